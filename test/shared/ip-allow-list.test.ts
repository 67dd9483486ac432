/**
 * One entry, three readers: the configuration check at start, the inbound MM7 door (operators[].inbound.allowIps) and
 * the outbound address guard (allowPrivateAddresses). Each entry must be accepted or refused by all three alike, in
 * the same words; and the peers that match differ only where they must (NAT64 and 6to4, outbound only).
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { isAddressAllowed } from '../../src/content/address-guard.ts';
import { checkMm7Access } from '../../src/operators/mm7/mm7-inbound.ts';

/** A configuration using `entry` in all three lists. */
const configWith = (entry: string) =>
  ({
    operators: [
      { id: 5, type: 'mm7', prefixes: ['1'], mm7: { url: 'http://127.0.0.1:9/mm7', vaspId: 'v' }, inbound: { allowIps: [entry] } },
    ],
    remoteContent: { allowPrivateAddresses: [entry] },
    webhooks: { allowPrivateAddresses: [entry] },
  }) as never;

/** The configuration's refusal, or undefined when it loads. */
function configError(entry: string): string | undefined {
  try {
    loadConfig({ raw: configWith(entry) });
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/** Is `peer` let in through an inbound allow-list of `entries` (a fresh array: lists are memoised per array)? */
async function inbound(entries: string[], peer: string): Promise<boolean> {
  const refused = await checkMm7Access({ headers: {}, remoteAddress: peer }, { operatorId: 5, allowIps: entries });
  return refused === null;
}

/** May the gateway dial `ip` under allowPrivateAddresses: `entries`? */
const outbound = (entries: string[], ip: string): boolean => isAddressAllowed(ip, { allowPrivateAddresses: entries });

// [entry, a private address it contains, a private address it does not]
const ACCEPTED: ReadonlyArray<readonly [string, string, string]> = [
  ['10.0.0.0/8', '10.200.0.1', '172.16.0.1'],
  ['10.0.0.1', '10.0.0.1', '10.0.0.2'],
  ['10.1.2.3/8', '10.9.9.9', '192.168.0.1'], // bits after the prefix ignored
  ['::1', '::1', 'fd00::1'],
  ['fd00::/8', 'fd12::1', 'fe80::1'],
  ['[::1]', '::1', 'fd00::1'],
  ['[fd00::]/8', 'fd12::1', 'fc00::1'],
  [' 10.0.0.0/8 ', '10.0.0.7', '192.168.0.1'],
  ['fe80::1%eth0', 'fe80::1', 'fe80::2'],
  ['::ffff:10.0.0.0/104', '10.3.2.1', '192.168.0.1'], // an IPv4-mapped entry is its IPv4 block
];

// [entry, the refusal, word for word, wherever the entry is written]
const REFUSED: ReadonlyArray<readonly [string, string]> = [
  ['0.0.0.0/0', '"0.0.0.0/0" is not accepted in an allow-list: a /0 block matches every IPv4 address'],
  ['::/0', '"::/0" is not accepted in an allow-list: a /0 block matches every IPv6 address'],
  ['10.0.0.0/33', '"10.0.0.0/33" is not an IP address or CIDR block: the prefix length after "/" must be a decimal number from 1 to 32, without leading zero'],
  ['fd00::/129', '"fd00::/129" is not an IP address or CIDR block: the prefix length after "/" must be a decimal number from 1 to 128, without leading zero'],
  ['10.0.0.0/-1', '"10.0.0.0/-1" is not an IP address or CIDR block: the prefix length after "/" must be a decimal number from 1 to 32, without leading zero'],
  ['10.0.0.0/8x', '"10.0.0.0/8x" is not an IP address or CIDR block: the prefix length after "/" must be a decimal number from 1 to 32, without leading zero'],
  // Read as /0 (every IPv4 address) by Number("") before the lists shared one parser.
  ['10.0.0.0/', '"10.0.0.0/" is not an IP address or CIDR block: the prefix length after "/" must be a decimal number from 1 to 32, without leading zero'],
  ['10.0.0.0/08', '"10.0.0.0/08" is not an IP address or CIDR block: the prefix length after "/" must be a decimal number from 1 to 32, without leading zero'],
  ['10.0.0.0/0x8', '"10.0.0.0/0x8" is not an IP address or CIDR block: the prefix length after "/" must be a decimal number from 1 to 32, without leading zero'],
  ['10.0.0.0/ 8', '"10.0.0.0/ 8" is not an IP address or CIDR block: the prefix length after "/" must be a decimal number from 1 to 32, without leading zero'],
  ['10.0.0.0/8/9', '"10.0.0.0/8/9" is not an IP address or CIDR block: the prefix length after "/" must be a decimal number from 1 to 32, without leading zero'],
  ['10.0.0.0 /8', '"10.0.0.0 /8" is not an IP address or CIDR block (10.0.0.0/8, fd00::/8, 192.0.2.7)'],
  ['[10.0.0.1]', '"[10.0.0.1]" is not an IP address or CIDR block (10.0.0.0/8, fd00::/8, 192.0.2.7)'],
  ['10.0.0.1%eth0', '"10.0.0.1%eth0" is not an IP address or CIDR block (10.0.0.0/8, fd00::/8, 192.0.2.7)'],
  ['010.0.0.1', '"010.0.0.1" is not an IP address or CIDR block (10.0.0.0/8, fd00::/8, 192.0.2.7)'],
  ['host.example', '"host.example" is not an IP address or CIDR block (10.0.0.0/8, fd00::/8, 192.0.2.7)'],
  ['', '"" is not an IP address or CIDR block (10.0.0.0/8, fd00::/8, 192.0.2.7)'],
];

describe('an allow-list entry', () => {
  it.each(ACCEPTED)('%j is accepted at start and matches the same addresses inbound and outbound', async (entry, inside, outside) => {
    expect(configError(entry)).toBeUndefined();
    expect(await inbound([entry], inside)).toBe(true);
    expect(outbound([entry], inside)).toBe(true);
    expect(await inbound([entry], outside)).toBe(false);
    expect(outbound([entry], outside)).toBe(false);
  });

  it.each(REFUSED)('%j is refused at start, inbound and outbound, in the same words', async (entry, refusal) => {
    const error = configError(entry);
    expect(error).toContain(`operators.0.inbound.allowIps.0: ${refusal}`);
    expect(error).toContain(`remoteContent.allowPrivateAddresses.0: ${refusal}`);
    expect(error).toContain(`webhooks.allowPrivateAddresses.0: ${refusal}`);
    // Never reached with a loaded configuration; a list built in code is refused as loudly, never read as "allow nothing".
    const inboundError = await inbound([entry], '10.0.0.1').then(() => undefined, (e: unknown) => e);
    expect(inboundError).toBeInstanceOf(TypeError);
    expect((inboundError as Error).message).toBe(refusal);
    expect(() => outbound([entry], '10.0.0.1')).toThrow(TypeError);
    expect(() => outbound([entry], '10.0.0.1')).toThrow(refusal);
  });
});

describe('a peer or destination matched against an IPv4 entry (10.0.0.0/8)', () => {
  const v4 = ['10.0.0.0/8'];

  it('IPv4-mapped, dotted or hex, is the IPv4 address on both sides (how a dual-stack socket reports an IPv4 peer)', async () => {
    for (const ip of ['::ffff:10.1.2.3', '::FFFF:10.1.2.3', '::ffff:a01:203', '0:0:0:0:0:ffff:a01:203']) {
      expect(await inbound(v4, ip), ip).toBe(true);
      expect(outbound(v4, ip), ip).toBe(true);
    }
    expect(await inbound(v4, '::ffff:b01:203')).toBe(false); // 11.1.2.3
  });

  it('NAT64 and 6to4 are NOT the embedded host inbound (anyone can send from them), but are outbound (traffic ends there)', async () => {
    for (const ip of ['64:ff9b::a01:203', '64:ff9b::10.1.2.3', '2002:a01:203::1', '2002:0a01:0203::1']) {
      expect(await inbound(v4, ip), ip).toBe(false);
      expect(outbound(v4, ip), ip).toBe(true);
    }
  });
});

describe('an IPv6 entry', () => {
  it('never matches an IPv4 peer or destination, even one whose mapped form it covers', async () => {
    // ::/64 contains ::ffff:0:0/96; Node's BlockList alone would match every IPv4 address against it.
    for (const entries of [['::/64'], ['fd00::/8'], ['::/1']]) {
      expect(await inbound(entries, '10.1.2.3'), entries[0]).toBe(false);
      expect(await inbound(entries, '::ffff:10.1.2.3'), entries[0]).toBe(false);
      expect(outbound(entries, '10.1.2.3'), entries[0]).toBe(false);
      expect(outbound(entries, '::ffff:10.1.2.3'), entries[0]).toBe(false);
    }
    expect(await inbound(['::/64'], '::5')).toBe(true);
  });
});
