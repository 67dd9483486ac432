/**
 * Address guard: which IP addresses the gateway may connect to when it fetches customer-supplied URLs (remote
 * content, customer webhooks). Pure functions, no sockets: the fetcher calls them on every address a name resolves
 * to, before it dials.
 *
 * Ranges come from the IANA special-purpose address registries (RFC 6890 and its updates): RFC 1122 §3.2.1.3
 * (0/8, loopback), RFC 1918 (private), RFC 6598 (CGNAT 100.64/10), RFC 3927 (169.254/16), RFC 5737 and RFC 3849 /
 * RFC 9637 (documentation), RFC 2544 / RFC 5180 (benchmarking), RFC 4193 (fc00::/7), RFC 4291 §2.4-2.5 (IPv6
 * special addresses, IPv4-mapped), RFC 6052 (NAT64 64:ff9b::/96), RFC 3056 (6to4 2002::/16), RFC 4380 (Teredo).
 * Everything in IPv6 outside 2000::/3 (global unicast, RFC 4291 §2.4) is treated as reserved: default deny.
 */
import { BlockList, isIP } from 'node:net';
import { compileAllowList, ipv4FromBytes, ipv6Bytes, mappedIPv4, normaliseIp } from '../shared/ip-allow-list.ts';

/** What kind of address an IP is. Only `public` is reachable under the default policy. */
export type AddressClass =
  | 'public'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'unique-local'
  | 'multicast'
  | 'metadata'
  | 'unspecified'
  | 'documentation'
  | 'benchmark'
  | 'reserved';

/**
 * Which non-public addresses may be dialled. `false`: public only (the default, and what production should use).
 * `true`: everything (a lab or a test against a local server). A list of CIDRs (`"10.1.2.0/24"`, `"fd12::/64"`,
 * or a bare address; read by shared/ip-allow-list.ts, as `allowIps` is): those ranges in addition to public ones.
 */
export interface AddressPolicy {
  allowPrivateAddresses: boolean | string[];
}

/** The production default: public addresses only. */
export const DEFAULT_ADDRESS_POLICY: Readonly<AddressPolicy> = Object.freeze({ allowPrivateAddresses: false });

/**
 * Cloud instance-metadata and platform endpoints. Reaching one from a fetch of a customer URL leaks credentials
 * (the classic SSRF target), so they get their own class even where a wider range would also catch them.
 */
export const METADATA_ADDRESSES: readonly string[] = Object.freeze([
  '169.254.169.254', // AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle (IMDS)
  '169.254.170.2', // AWS ECS task metadata
  '169.254.169.253', // AWS VPC DNS resolver
  '169.254.169.123', // AWS time sync
  '100.100.100.200', // Alibaba Cloud
  '192.0.0.192', // Oracle Cloud (legacy metadata)
  '168.63.129.16', // Azure WireServer (a public address used as a platform endpoint)
  'fd00:ec2::254', // AWS IMDS over IPv6
  'fd00:ec2::23', // AWS DNS over IPv6
  'fd00:ec2::123', // AWS time sync over IPv6
]);

type Family = 'ipv4' | 'ipv6';

function blockList(entries: ReadonlyArray<readonly [string, number]>, family: Family): BlockList {
  const bl = new BlockList();
  for (const [net, prefix] of entries) bl.addSubnet(net, prefix, family);
  return bl;
}

// Checked in this order; the first match wins (metadata and the exact unspecified address come before their ranges).
const V4_RULES: ReadonlyArray<readonly [AddressClass, BlockList]> = [
  ['unspecified', blockList([['0.0.0.0', 32]], 'ipv4')],
  ['metadata', blockList(METADATA_ADDRESSES.filter((a) => isIP(a) === 4).map((a) => [a, 32] as const), 'ipv4')],
  ['loopback', blockList([['127.0.0.0', 8]], 'ipv4')],
  ['private', blockList([['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16], ['100.64.0.0', 10]], 'ipv4')],
  ['link-local', blockList([['169.254.0.0', 16]], 'ipv4')],
  ['multicast', blockList([['224.0.0.0', 4]], 'ipv4')],
  ['documentation', blockList([['192.0.2.0', 24], ['198.51.100.0', 24], ['203.0.113.0', 24]], 'ipv4')],
  ['benchmark', blockList([['198.18.0.0', 15]], 'ipv4')],
  // 0/8 "this network", 192.0.0/24 IETF protocol assignments, 192.88.99/24 deprecated 6to4 relay, 240/4 incl. broadcast.
  ['reserved', blockList([['0.0.0.0', 8], ['192.0.0.0', 24], ['192.88.99.0', 24], ['240.0.0.0', 4]], 'ipv4')],
];

const V6_RULES: ReadonlyArray<readonly [AddressClass, BlockList]> = [
  ['unspecified', blockList([['::', 128]], 'ipv6')],
  ['loopback', blockList([['::1', 128]], 'ipv6')],
  ['metadata', blockList(METADATA_ADDRESSES.filter((a) => isIP(a) === 6).map((a) => [a, 128] as const), 'ipv6')],
  ['link-local', blockList([['fe80::', 10]], 'ipv6')],
  ['unique-local', blockList([['fc00::', 7]], 'ipv6')],
  ['multicast', blockList([['ff00::', 8]], 'ipv6')],
  ['documentation', blockList([['2001:db8::', 32], ['3fff::', 20]], 'ipv6')],
  ['benchmark', blockList([['2001:2::', 48]], 'ipv6')],
  // ::/96 IPv4-compatible (deprecated), 100::/64 discard-only, 2001::/23 IETF protocol assignments (Teredo,
  // ORCHID, ...), 64:ff9b:1::/48 local-use NAT64, fec0::/10 deprecated site-local.
  [
    'reserved',
    blockList(
      [['::', 96], ['100::', 64], ['2001::', 23], ['64:ff9b:1::', 48], ['fec0::', 10]],
      'ipv6',
    ),
  ],
];

const GLOBAL_UNICAST_V6 = blockList([['2000::', 3]], 'ipv6');

/**
 * The IPv4 address an IPv6 address stands for, when traffic to it ends at that IPv4 host: IPv4-mapped
 * (::ffff:a.b.c.d, RFC 4291 §2.5.5.2), NAT64 well-known prefix (64:ff9b::/96, RFC 6052 §2.1) and 6to4
 * (2002:AABB:CCDD::/48, RFC 3056 §2). Undefined for anything else.
 */
export function embeddedIPv4(ipv6: string): string | undefined {
  const s = normaliseIp(ipv6);
  const mapped = mappedIPv4(s);
  if (mapped !== undefined) return mapped;
  const b = ipv6Bytes(s);
  const zero = (from: number, to: number): boolean => b.slice(from, to).every((x) => x === 0);
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zero(4, 12)) return ipv4FromBytes(b, 12);
  if (b[0] === 0x20 && b[1] === 0x02) return ipv4FromBytes(b, 2);
  return undefined;
}

/**
 * Classify an IP address literal (IPv4 dotted quad or IPv6, brackets and zone id tolerated). IPv6 forms that
 * carry an IPv4 destination (mapped, NAT64, 6to4) are classified as that IPv4 address. Throws TypeError when the
 * string is not an IP address (host names are resolved by the caller first).
 */
export function classifyAddress(ip: string): AddressClass {
  const s = normaliseIp(ip);
  const fam = isIP(s);
  if (fam === 4) return classifyV4(s);
  if (fam !== 6) throw new TypeError(`not an IP address: ${JSON.stringify(ip)}`);
  const v4 = embeddedIPv4(s);
  if (v4 !== undefined) {
    // 6to4 of a public IPv4 is still a 6to4 relay hop; only its embedded target matters for SSRF.
    return classifyV4(v4);
  }
  for (const [cls, bl] of V6_RULES) if (bl.check(s, 'ipv6')) return cls;
  return GLOBAL_UNICAST_V6.check(s, 'ipv6') ? 'public' : 'reserved';
}

function classifyV4(s: string): AddressClass {
  for (const [cls, bl] of V4_RULES) if (bl.check(s, 'ipv4')) return cls;
  return 'public';
}

/**
 * May the gateway connect to this address? Public addresses always; others only when the policy allows all
 * (`true`) or lists a range containing the address (an IPv6 form carrying an IPv4 destination matches the IPv4
 * entry too). Anything that is not an IP address is refused.
 */
export function isAddressAllowed(ip: string, policy: AddressPolicy): boolean {
  let cls: AddressClass;
  try {
    cls = classifyAddress(ip);
  } catch {
    return false;
  }
  if (cls === 'public') return true;
  const allow = policy.allowPrivateAddresses;
  if (allow === true) return true;
  if (allow === false || allow.length === 0) return false;
  const list = compileAllowList(allow);
  if (list.has(ip)) return true;
  // Unlike an inbound peer (operators/mm7/mm7-inbound.ts), a NAT64 or 6to4 destination is also judged as the IPv4
  // host the traffic ends at: an entry allowing 10.1.2.3 allows 64:ff9b::a01:203 and 2002:a01:203::1 too, which
  // classifyAddress already refused as that same private IPv4 address.
  const v4 = isIP(normaliseIp(ip)) === 6 ? embeddedIPv4(ip) : undefined;
  return v4 !== undefined && list.hasIPv4(v4);
}
