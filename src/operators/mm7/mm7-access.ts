/**
 * Access control for inbound MM7: operator IP allow-lists (exact addresses or CIDR blocks) and HTTP Basic
 * credentials (RFC 7617). Operators protect MM7 links with both (NOTES "Framing").
 */
import { BlockList, isIP } from 'node:net';

/** Strip an IPv4-mapped IPv6 prefix (`::ffff:10.0.0.1` -> `10.0.0.1`) and an IPv6 zone. */
export function normaliseIp(ip: string): string {
  let s = ip.trim();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(s);
  if (mapped) s = mapped[1]!;
  const zone = s.indexOf('%');
  return zone >= 0 ? s.slice(0, zone) : s;
}

/** A compiled allow-list. Throws on an entry that is neither an IP address nor a CIDR block. */
export function compileAllowList(entries: readonly string[]): (ip: string) => boolean {
  const list = new BlockList();
  for (const raw of entries) {
    const [addr = '', bits] = raw.trim().split('/');
    const a = normaliseIp(addr);
    const family = isIP(a);
    if (family === 0) throw new Error(`not an IP address or CIDR block: ${raw}`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (bits === undefined) list.addAddress(a, type);
    else {
      const prefix = Number(bits);
      if (!/^\d+$/.test(bits) || prefix > (family === 4 ? 32 : 128)) throw new Error(`bad CIDR prefix: ${raw}`);
      list.addSubnet(a, prefix, type);
    }
  }
  return (ip: string) => {
    const a = normaliseIp(ip);
    const family = isIP(a);
    if (family === 0) return false;
    return list.check(a, family === 4 ? 'ipv4' : 'ipv6');
  };
}

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
