/**
 * IP allow-lists: the one parser of their entries and the one normaliser of address literals, shared by the outbound
 * address guard (content/address-guard.ts: `allowPrivateAddresses`), the inbound MM7 door (operators/mm7/mm7-inbound.ts:
 * `operators[].inbound.allowIps`) and the configuration check at start (config/addresses.ts), so that an entry is
 * accepted or refused the same way, with the same words, wherever it is written.
 *
 * An entry is an IPv4 or IPv6 address, optionally followed by `/prefix` (RFC 4632 §3.1, RFC 4291 §2.3):
 * - surrounding white space is ignored; an IPv6 address may be bracketed as in a URL (`[::1]`, `[fd00::]/8`), and its
 *   zone id (`fe80::1%eth0`, RFC 4007 §11) is ignored: an allow-list matches addresses, not interfaces;
 * - the prefix is a decimal number without sign or leading zero, 1..32 (IPv4) or 1..128 (IPv6); `/08` is refused
 *   rather than guessed at (an entry is read by people too, and `010.0.0.1` is already refused as possibly octal);
 * - a /0 block is refused: it matches every address of its family, which in `allowIps` undoes the rule that an
 *   operator without credentials be known by address, and in `allowPrivateAddresses` is better said as `true`;
 * - bits set after the prefix are ignored (`10.1.2.3/8` is 10.0.0.0/8), as every router configuration reads it;
 * - an IPv4-mapped IPv6 entry (`::ffff:10.0.0.0/104`, RFC 4291 §2.5.5.2) is the IPv4 entry it maps (10.0.0.0/8).
 *
 * Matching keeps the two families apart: an IPv6 entry never matches an IPv4 address. Node's BlockList alone would
 * not: its check treats an IPv4-mapped IPv6 address (dotted `::ffff:10.1.2.3` or hex `::ffff:a01:203`) as the IPv4
 * address, both ways, so an IPv6 rule covering ::ffff:0:0/96 (`::/64`, say) would admit every IPv4 peer. Addresses
 * are therefore unmapped here first and checked against the list of their own family only.
 */
import { BlockList, isIP } from 'node:net';

/** A malformed allow-list entry. The message names the entry and says what is wrong with it. */
export class AllowListEntryError extends TypeError {}

/**
 * An address literal as written in a URL, a socket report or a list, reduced to what `isIP` reads: white space
 * trimmed, URL brackets around an IPv6 address removed, an IPv6 zone id dropped ("[fe80::1%eth0]" -> "fe80::1").
 * Anything else (a host name) is returned trimmed, unchanged otherwise.
 */
export function normaliseIp(ip: string): string {
  let s = ip.trim();
  // Brackets only ever enclose an IPv6 literal (RFC 3986 §3.2.2); "[10.0.0.1]" is no address.
  if (s.startsWith('[') && s.endsWith(']') && s.includes(':')) s = s.slice(1, -1);
  const pct = s.indexOf('%');
  // A zone id qualifies IPv6 addresses only (RFC 4007 §11); "10.0.0.1%eth0" stays what it is, not an address.
  if (pct >= 0 && isIP(s.slice(0, pct)) === 6) s = s.slice(0, pct);
  return s;
}

/** Parse an IPv6 address (no zone id) into 16 bytes. Assumes `isIP(s) === 6`. */
export function ipv6Bytes(s: string): Uint8Array {
  const out = new Uint8Array(16);
  let text = s;
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    // Trailing dotted quad (RFC 4291 §2.2 form 3): two groups' worth of bytes.
    for (const p of text.slice(lastColon + 1).split('.')) tail.push(Number(p));
    text = text.slice(0, lastColon + 1) + '0:0';
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const groups = (g: string | undefined): number[] => (g ? g.split(':').filter((x) => x !== '').map((x) => parseInt(x, 16)) : []);
  const h = groups(head);
  const r = groups(rest);
  const all = rest === undefined ? h : [...h, ...new Array<number>(8 - h.length - r.length).fill(0), ...r];
  all.forEach((g, i) => {
    out[i * 2] = (g >> 8) & 0xff;
    out[i * 2 + 1] = g & 0xff;
  });
  if (tail.length === 4) out.set(tail, 12);
  return out;
}

/** The dotted IPv4 address in bytes `at`..`at + 3`. */
export const ipv4FromBytes = (b: Uint8Array, at: number): string => `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;

/**
 * The IPv4 address of an IPv4-mapped IPv6 address (::ffff:a.b.c.d, RFC 4291 §2.5.5.2), in the dotted or the hex
 * form (`::ffff:a01:203`); undefined for any other IPv6 address. A mapped address is not a translation: it is how a
 * dual-stack socket names an IPv4 peer (RFC 3493 §3.7), so it is that IPv4 address in every respect.
 */
export function mappedIPv4(ipv6: string): string | undefined {
  const b = ipv6Bytes(ipv6);
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return undefined;
  return b[10] === 0xff && b[11] === 0xff ? ipv4FromBytes(b, 12) : undefined;
}

/** One parsed entry: the network address and its prefix length, IPv4-mapped entries already turned into IPv4. */
export interface AllowListEntry {
  family: 'ipv4' | 'ipv6';
  address: string;
  prefix: number;
}

/** Parse one allow-list entry (module comment for what is accepted). Throws {@link AllowListEntryError}. */
export function parseAllowListEntry(entry: string): AllowListEntry {
  const text = entry.trim();
  const slash = text.indexOf('/');
  const written = slash < 0 ? text : text.slice(0, slash);
  const address = normaliseIp(written);
  const fam = isIP(address);
  // normaliseIp trims, so "10.0.0.0 /8" would pass unless white space inside the entry is refused here.
  if (fam === 0 || /\s/.test(written)) {
    throw new AllowListEntryError(`${JSON.stringify(entry)} is not an IP address or CIDR block (10.0.0.0/8, fd00::/8, 192.0.2.7)`);
  }
  const max = fam === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const bits = text.slice(slash + 1);
    prefix = /^[1-9][0-9]{0,2}$/.test(bits) ? Number(bits) : bits === '0' ? 0 : NaN;
    if (!(prefix >= 0 && prefix <= max)) {
      throw new AllowListEntryError(
        `${JSON.stringify(entry)} is not an IP address or CIDR block: the prefix length after "/" must be a decimal number from 1 to ${max}, without leading zero`,
      );
    }
  }
  if (fam === 6) {
    const v4 = mappedIPv4(address);
    if (v4 !== undefined && prefix >= 96) return checkedNotAll({ family: 'ipv4', address: v4, prefix: prefix - 96 }, entry);
  }
  return checkedNotAll({ family: fam === 4 ? 'ipv4' : 'ipv6', address, prefix }, entry);
}

function checkedNotAll(e: AllowListEntry, entry: string): AllowListEntry {
  if (e.prefix === 0) {
    throw new AllowListEntryError(
      `${JSON.stringify(entry)} is not accepted in an allow-list: a /0 block matches every ${e.family === 'ipv4' ? 'IPv4' : 'IPv6'} address`,
    );
  }
  return e;
}

/** A compiled allow-list: one BlockList per family, so that neither family's entries ever match the other's addresses. */
export class IpAllowList {
  private readonly v4 = new BlockList();
  private readonly v6 = new BlockList();

  constructor(entries: readonly string[]) {
    for (const raw of entries) {
      const e = parseAllowListEntry(raw);
      (e.family === 'ipv4' ? this.v4 : this.v6).addSubnet(e.address, e.prefix, e.family);
    }
  }

  /** Does an IPv4 entry contain this dotted IPv4 address? */
  hasIPv4(ipv4: string): boolean {
    return isIP(ipv4) === 4 && this.v4.check(ipv4, 'ipv4');
  }

  /**
   * Does the list contain this address (brackets and zone id tolerated)? An IPv4-mapped IPv6 address is its IPv4
   * address; every other IPv6 address, NAT64 and 6to4 included, is judged as the IPv6 address it is: whether traffic
   * *to* it ends at an embedded IPv4 host is the outbound guard's question, not a property of the address.
   */
  has(ip: string): boolean {
    const s = normaliseIp(ip);
    const fam = isIP(s);
    if (fam === 4) return this.v4.check(s, 'ipv4');
    if (fam !== 6) return false;
    const v4 = mappedIPv4(s);
    return v4 !== undefined ? this.v4.check(v4, 'ipv4') : this.v6.check(s, 'ipv6');
  }
}

const compiled = new WeakMap<readonly string[], IpAllowList>();

/**
 * The compiled list for an array of entries, memoised per array (configuration arrays are frozen and live as long as
 * the gateway, and the lists are checked on every request or dial). Throws {@link AllowListEntryError}.
 */
export function compileAllowList(entries: readonly string[]): IpAllowList {
  let list = compiled.get(entries);
  if (!list) {
    list = new IpAllowList(entries);
    compiled.set(entries, list);
  }
  return list;
}
