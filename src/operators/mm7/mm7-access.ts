/**
 * Access control for inbound MM7: HTTP Basic credentials (RFC 7617). Operators protect MM7 links with these and an IP
 * allow-list (NOTES "Framing"); the allow-list is read and matched by shared/ip-allow-list.ts, as the outbound
 * guard's is, and checked in mm7-inbound.ts.
 */

/** Credentials from an `Authorization: Basic ...` header, or null when absent or unreadable (RFC 7617 §2). */
export function parseBasicAuth(header: string | undefined): { username: string; password: string } | null {
  if (!header) return null;
  const m = /^\s*Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header);
  if (!m || m[1]!.length > 4096) return null;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
