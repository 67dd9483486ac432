/**
 * Field types more than one section of the configuration uses: the http(s) URLs the gateway posts to (customer
 * endpoints, MMSCs) and stored password hashes (accounts, operators' inbound credentials).
 */
import { z } from 'zod';
import { parseScryptHash } from '../core/secrets.ts';

export const httpUrl = z
  .string()
  .url({ message: 'must be an http:// or https:// URL', abort: true })
  .refine((u) => /^https?:\/\//i.test(u), 'must be an http:// or https:// URL')
  // undici drops a URL's user:password@ without a word, so such credentials never reached the customer's endpoint or
  // the MMSC (whose answer, 401, failed every attempt), while the URL, password and all, went into job payloads, event
  // details (the status API) and `mmsgate jobs`.
  .refine((u) => {
    const url = URL.canParse(u) ? new URL(u) : undefined;
    return url === undefined || (url.username === '' && url.password === '');
  }, 'must not carry credentials (user:password@): they are not sent, and the URL is shown in events and logs; sign webhooks with webhookSecrets, give an MMSC operators[].mm7.username and password');

/**
 * A stored password hash as `mmsgate hash-password` prints it: `scrypt$N$r$p$salt$hash` (core/secrets.ts). Checked in
 * full at start: a mistyped hash would otherwise only show as every login of the account failing (401).
 */
export const scryptHash = z
  .string()
  .regex(/^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]+={0,2}$/, {
    message: 'must be a hash printed by `mmsgate hash-password` (scrypt$N$r$p$salt$hash)',
    abort: true, // the range check below means nothing for a string of another form
  })
  .refine((h) => parseScryptHash(h) !== undefined, 'scrypt parameters or hash length out of range: make it again with `mmsgate hash-password`');
