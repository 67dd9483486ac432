// Pure-function tests: addresses appear here only as strings; nothing is ever dialled.
import { describe, expect, it } from 'vitest';
import { classifyAddress, embeddedIPv4, isAddressAllowed, type AddressClass } from '../../src/content/address-guard.ts';

const CASES: Array<[string, AddressClass]> = [
  // loopback
  ['127.0.0.1', 'loopback'],
  ['127.255.255.254', 'loopback'],
  ['::1', 'loopback'],
  ['[::1]', 'loopback'],
  ['0:0:0:0:0:0:0:1', 'loopback'],
  // private (RFC 1918, CGNAT RFC 6598)
  ['10.0.0.1', 'private'],
  ['10.255.255.255', 'private'],
  ['172.16.0.1', 'private'],
  ['172.31.255.255', 'private'],
  ['192.168.1.1', 'private'],
  ['100.64.0.1', 'private'],
  ['100.127.255.255', 'private'],
  // link-local
  ['169.254.1.1', 'link-local'],
  ['fe80::1', 'link-local'],
  ['fe80::1%eth0', 'link-local'],
  ['febf::1', 'link-local'],
  // unique-local
  ['fc00::1', 'unique-local'],
  ['fd12:3456:789a::1', 'unique-local'],
  // multicast
  ['224.0.0.1', 'multicast'],
  ['239.255.255.250', 'multicast'],
  ['ff02::1', 'multicast'],
  // metadata
  ['169.254.169.254', 'metadata'],
  ['169.254.170.2', 'metadata'],
  ['100.100.100.200', 'metadata'],
  ['168.63.129.16', 'metadata'],
  ['192.0.0.192', 'metadata'],
  ['fd00:ec2::254', 'metadata'],
  ['::ffff:169.254.169.254', 'metadata'],
  // unspecified
  ['0.0.0.0', 'unspecified'],
  ['::', 'unspecified'],
  // documentation, benchmark, reserved
  ['192.0.2.10', 'documentation'],
  ['198.51.100.7', 'documentation'],
  ['203.0.113.200', 'documentation'],
  ['2001:db8::1', 'documentation'],
  ['3fff::1', 'documentation'],
  ['198.18.0.1', 'benchmark'],
  ['198.19.255.255', 'benchmark'],
  ['2001:2::1', 'benchmark'],
  ['0.1.2.3', 'reserved'],
  ['192.0.0.8', 'reserved'],
  ['240.0.0.1', 'reserved'],
  ['255.255.255.255', 'reserved'],
  ['100::1', 'reserved'],
  ['2001::1', 'reserved'], // Teredo
  ['fec0::1', 'reserved'],
  ['::1.2.3.4', 'reserved'], // deprecated IPv4-compatible
  ['4000::1', 'reserved'], // outside 2000::/3
  // IPv4 carried in IPv6: classified as the IPv4 destination
  ['::ffff:127.0.0.1', 'loopback'],
  ['::ffff:7f00:1', 'loopback'],
  ['::ffff:10.1.2.3', 'private'],
  ['::ffff:8.8.8.8', 'public'],
  ['64:ff9b::7f00:1', 'loopback'], // NAT64 of 127.0.0.1
  ['64:ff9b::a00:1', 'private'], // NAT64 of 10.0.0.1
  ['2002:7f00:1::', 'loopback'], // 6to4 of 127.0.0.1
  ['2002:c0a8:101::1', 'private'], // 6to4 of 192.168.1.1
  // public
  ['8.8.8.8', 'public'],
  ['1.1.1.1', 'public'],
  ['172.32.0.1', 'public'], // just above 172.16/12
  ['100.128.0.1', 'public'], // just above 100.64/10
  ['2606:4700:4700::1111', 'public'],
  ['2a00:1450:4001::200e', 'public'],
];

describe('classifyAddress', () => {
  it.each(CASES)('%s is %s', (ip, cls) => {
    expect(classifyAddress(ip)).toBe(cls);
  });

  it('rejects non-addresses (host names and non-canonical IPv4 forms are the caller’s job)', () => {
    expect(() => classifyAddress('localhost')).toThrow(TypeError);
    expect(() => classifyAddress('2130706433')).toThrow(TypeError);
    expect(() => classifyAddress('')).toThrow(TypeError);
  });

  it('extracts the IPv4 destination of mapped, NAT64 and 6to4 addresses', () => {
    expect(embeddedIPv4('::ffff:1.2.3.4')).toBe('1.2.3.4');
    expect(embeddedIPv4('64:ff9b::102:304')).toBe('1.2.3.4');
    expect(embeddedIPv4('2002:102:304::5')).toBe('1.2.3.4');
    expect(embeddedIPv4('2606:4700::1')).toBeUndefined();
  });
});

describe('isAddressAllowed', () => {
  const none = { allowPrivateAddresses: false };
  const all = { allowPrivateAddresses: true };

  it('allows public and refuses every other class by default', () => {
    for (const [ip, cls] of CASES) expect(isAddressAllowed(ip, none), ip).toBe(cls === 'public');
  });

  it('allows everything with allowPrivateAddresses: true', () => {
    for (const [ip] of CASES) expect(isAddressAllowed(ip, all), ip).toBe(true);
  });

  it('with a CIDR list allows exactly those ranges besides public', () => {
    const policy = { allowPrivateAddresses: ['10.1.0.0/16', '127.0.0.1', 'fd12::/16'] };
    expect(isAddressAllowed('10.1.2.3', policy)).toBe(true);
    expect(isAddressAllowed('10.2.0.1', policy)).toBe(false);
    expect(isAddressAllowed('127.0.0.1', policy)).toBe(true);
    expect(isAddressAllowed('127.0.0.2', policy)).toBe(false);
    expect(isAddressAllowed('::ffff:127.0.0.1', policy)).toBe(true);
    expect(isAddressAllowed('fd12:1::1', policy)).toBe(true);
    expect(isAddressAllowed('fd13::1', policy)).toBe(false);
    expect(isAddressAllowed('169.254.169.254', policy)).toBe(false);
    expect(isAddressAllowed('8.8.8.8', policy)).toBe(true);
  });

  it('refuses strings that are not addresses', () => {
    expect(isAddressAllowed('example.com', all)).toBe(false);
    expect(isAddressAllowed('999.1.1.1', none)).toBe(false);
  });

  it('throws on a malformed allow-list entry rather than silently allowing nothing', () => {
    expect(() => isAddressAllowed('10.0.0.1', { allowPrivateAddresses: ['10.0.0.0/33'] })).toThrow(TypeError);
    expect(() => isAddressAllowed('10.0.0.1', { allowPrivateAddresses: ['ten'] })).toThrow(TypeError);
  });
});
