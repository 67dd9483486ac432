/**
 * Address lists in the configuration, checked at start with the very parsers that use them later: a malformed entry
 * would otherwise only throw when the first request needs the list (every MM7 request from the MMSC, or every remote
 * content fetch, failing), long after the gateway started as if all were well.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { compileAllowList as guardAllowList } from '../content/address-guard.ts';
import { compileAllowList as mm7AllowList } from '../operators/mm7/mm7-access.ts';

/** Each entry compiled alone, so that the error names the bad one by its index. */
function listOf(compile: (entries: string[]) => unknown, what: string) {
  return z.array(z.string()).superRefine((entries, ctx) => {
    entries.forEach((entry, i) => {
      try {
        compile([entry]);
      } catch {
        ctx.addIssue({ code: 'custom', path: [i], message: `"${entry}" is not ${what}` });
      }
    });
  });
}

/** operators[].inbound.allowIps: addresses or CIDR blocks an MMSC may post from. */
export const inboundAllowIps = listOf(mm7AllowList, 'an IP address or CIDR block (10.0.0.0/8, 2001:db8::/32)');

/** remoteContent / webhooks allowPrivateAddresses: true, false, or CIDR blocks allowed despite the guard. */
export const privateAddressPolicy = z.union([z.boolean(), listOf(guardAllowList, 'an IP address or CIDR block (10.0.0.0/8, fd00::/8)')], {
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
      (h) => /^(\*\.)?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/.test(h) || isIP(h.replace(/^\[|\]$/g, '')) !== 0,
      'must be a host name (cdn.example.com, *.example.com) or an IP address, without scheme, port or path',
    ),
);
