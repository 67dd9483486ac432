/**
 * Address lists in the configuration, checked at start with the very parsers that use them later: a malformed entry
 * would otherwise only throw when the first request needs the list (every MM7 request from the MMSC, or every remote
 * content fetch, failing), long after the gateway started as if all were well.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { normaliseIp, parseAllowListEntry } from '../shared/ip-allow-list.ts';

/**
 * Each entry parsed alone, so that the error names the bad one by its index; the message is the parser's own, so an
 * entry is refused here in the words it would be refused in at run time, whichever list it is in.
 */
const allowList = z.array(z.string()).superRefine((entries, ctx) => {
  entries.forEach((entry, i) => {
    try {
      parseAllowListEntry(entry);
    } catch (err) {
      ctx.addIssue({ code: 'custom', path: [i], message: (err as Error).message });
    }
  });
});

/** operators[].inbound.allowIps: addresses or CIDR blocks an MMSC may post from. */
export const inboundAllowIps = allowList;

/** remoteContent / webhooks allowPrivateAddresses: true, false, or CIDR blocks allowed despite the guard. */
export const privateAddressPolicy = z.union([z.boolean(), allowList], {
  error: 'must be true, false or a list of CIDR blocks',
});

/**
 * remoteContent.allowedHosts: bare host names as URLs carry them (`cdn.example.com`, `*.example.com`) or IP addresses.
 * An entry with a scheme, port or path never equals a URL's host, so every fetch would be refused.
 */
export const hostNameList = z.array(
  z
    .string()
    .min(1)
    .refine(
      (h) => /^(\*\.)?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/.test(h) || isIP(normaliseIp(h)) !== 0,
      'must be a host name (cdn.example.com, *.example.com) or an IP address, without scheme, port or path',
    ),
);
