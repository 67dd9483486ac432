/**
 * The mistakes people make writing their first config file: each is refused at start with the key it concerns and
 * what to write instead, never accepted with a meaning nobody intended.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, type LoadOptions } from '../../src/config/load.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'mmsgate-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const account = () => ({ id: 'acme', password: 's3cret', mtConfigs: { default: { reportUrl: 'http://127.0.0.1:9100/reports' } } });
const operator = () => ({ id: 77, type: 'simulator', prefixes: ['1'] });

/** The ConfigError's text for a raw config: the lines after "invalid configuration:". */
function errorOf(opts: LoadOptions): string {
  try {
    loadConfig(opts);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('the configuration was accepted');
}
const rawError = (raw: Record<string, unknown>) => errorOf({ raw: { accounts: [account()], operators: [operator()], ...raw } as never });

describe('a misspelled key', () => {
  it('is refused, named in full, with the key that was meant', () => {
    expect(rawError({ acounts: [] })).toContain('  acounts: unknown key (did you mean accounts?)');
    expect(rawError({ accounts: [{ ...account(), mtconfigs: {} }] })).toContain('accounts.0.mtconfigs: unknown key (did you mean mtConfigs?)');
    // An optional key: accepted silently, every delivery report of the mtConfig would be lost.
    const reporturl = { ...account(), mtConfigs: { default: { reporturl: 'http://127.0.0.1:9100/r' } } };
    expect(rawError({ accounts: [reporturl] })).toContain('accounts.0.mtConfigs.default.reporturl: unknown key (did you mean reportUrl?)');
    expect(rawError({ submit: { retrySchedul: ['1s'] } })).toContain('submit.retrySchedul: unknown key (did you mean retrySchedule?)');
  });

  it('far from any key is refused with the keys allowed there', () => {
    expect(rawError({ log: { lvl: 'debug', foo: 1 } })).toMatch(/log\.foo: unknown key; the keys here are level$/m);
  });
});

describe('a value of the wrong shape', () => {
  it('says what to write: quotes for numbers meant as text, no units on a count, true/false, a list, a mapping', () => {
    const number = { ...account(), numbers: [{ number: 88600 }] };
    expect(rawError({ accounts: [number] })).toContain('accounts.0.numbers.0.number: must be text, and YAML read a number: write it in quotes');
    // A numeric password is not echoed to the terminal or the log the error goes to.
    expect(rawError({ accounts: [{ id: 'acme', password: 482915 }] })).not.toContain('482915');
    expect(rawError({ operators: [{ ...operator(), prefixes: [1] }] })).toContain('operators.0.prefixes.0: must be text');
    expect(rawError({ listen: { port: '8080x' } })).toContain('listen.port: must be a number, written without quotes or units');
    expect(rawError({ operators: [{ ...operator(), generateSmil: 'yes' }] })).toContain('operators.0.generateSmil: must be true or false');
    expect(rawError({ accounts: { acme: account() } })).toMatch(/^ {2}accounts: must be a list/m);
    expect(rawError({ log: 'debug' })).toContain('  log: must be a mapping with the keys level');
    expect(rawError({ webhooks: { timeout: true } })).toContain('webhooks.timeout: must be a duration (500ms, 5s, 2m, 1h, 3d) or a number of milliseconds');
    expect(rawError({ webhooks: { allowPrivateAddresses: 'yes' } })).toContain('webhooks.allowPrivateAddresses: must be true, false or a list of CIDR blocks');
    // One line about the type, not also a length check read off the string.
    expect(rawError({ accounts: [{ ...account(), webhookSecrets: 'whsec_abc' }] }).split('\n')).toEqual([
      'invalid configuration:',
      '  accounts.0.webhookSecrets: must be a list (in YAML, each item on a line of its own starting with "- ", or [a, b])',
    ]);
  });

  it('names a missing required key as missing', () => {
    expect(rawError({ operators: [{ id: 78, type: 'mm7', mm7: { username: 'u' } }] })).toContain('operators.0.mm7.url: missing: this key is required');
    expect(rawError({ operators: [{ id: 78 }] })).toContain('operators.0.type: missing: this key is required (one of simulator, mm7)');
  });

  it('points at a left-out mtConfig name', () => {
    const unnamed = { ...account(), mtConfigs: { reportUrl: 'http://127.0.0.1:9100/r' } };
    expect(rawError({ accounts: [unnamed] })).toContain('reportUrl was read as a name here: is the name above it missing?');
  });

  it('`listen: 9090` is refused, with or without --port, instead of listening on the default port', () => {
    expect(rawError({ listen: 9090 })).toContain('  listen: must be a mapping with the keys host, port, tls');
    expect(errorOf({ raw: { listen: 9090 } as never, port: 18601 })).toContain('  listen: must be a mapping');
  });
});

describe('a duration too short to mean anything', () => {
  it('(a bare number meant as seconds) is refused for timeouts and the job lease', () => {
    const msg = rawError({ webhooks: { timeout: 10 }, queue: { leaseTime: 0 }, remoteContent: { timeout: '30' } });
    expect(msg).toContain('webhooks.timeout: must be at least 1s (a bare number is milliseconds: write 10s for ten seconds)');
    expect(msg).toContain('queue.leaseTime: must be at least 1s');
    expect(msg).toContain('remoteContent.timeout: must be at least 1s');
    const mm7 = { id: 78, type: 'mm7', mm7: { url: 'http://mmsc.example/mm7', timeout: 30 } };
    expect(rawError({ operators: [operator(), mm7] })).toContain('operators.1.mm7.timeout: must be at least 1s');
    expect(loadConfig({ raw: { webhooks: { timeout: '1s' }, queue: { leaseTime: '2s' } } }).queue.leaseTime).toBe(2000);
  });
});

describe('other first-file mistakes', () => {
  it('a phone number with + or spaces says how to write it', () => {
    const plus = { ...account(), numbers: [{ number: '+49 151 12345678' }] };
    expect(rawError({ accounts: [plus] })).toContain('accounts.0.numbers.0.number: number must be 3 to 15 digits, without + or spaces');
  });

  it('a passwordHash of another form gets one message, not also a range complaint', () => {
    const bcrypt = { id: 'acme', passwordHash: '$2b$10$abcdefghijklmnopqrstuv' };
    expect(rawError({ accounts: [bcrypt] }).split('\n')).toEqual([
      'invalid configuration:',
      '  accounts.0.passwordHash: must be a hash printed by `mmsgate hash-password` (scrypt$N$r$p$salt$hash)',
    ]);
  });

  it('a reportUrl without a scheme gets one message', () => {
    const bare = { ...account(), mtConfigs: { default: { reportUrl: 'example.com/reports' } } };
    expect(rawError({ accounts: [bare] }).split('\n')).toEqual(['invalid configuration:', '  accounts.0.mtConfigs.default.reportUrl: must be an http:// or https:// URL']);
  });

  it('sqlite://./path is refused (it would be the absolute /path), sqlite:///abs/path still works', () => {
    expect(rawError({ store: 'sqlite://./data/mmsgate.db' })).toContain('store: sqlite:// is not a URL form here: write sqlite:./data/mmsgate.db');
    expect(loadConfig({ raw: { store: 'sqlite:///var/lib/mmsgate.db' } }).storeUrl).toBe('sqlite:///var/lib/mmsgate.db');
  });

  it('an empty config file (or one of comments only) is refused instead of starting a gateway with no account', () => {
    const empty = path.join(dir, 'empty.yaml');
    writeFileSync(empty, '# mmsgate config, to do\n');
    expect(errorOf({ file: empty })).toBe(`config file ${empty} is empty: it needs at least accounts and operators (docs/configuration.md)`);
  });
});

describe('values that only failed once the gateway ran', () => {
  it('a malformed address list entry is refused at start, by its index', () => {
    const inbound = { ...operator(), inbound: { allowIps: ['10.0.0.0/8', '10.0.0.0/33'] } };
    expect(rawError({ operators: [inbound] })).toContain('operators.0.inbound.allowIps.1: "10.0.0.0/33" is not an IP address or CIDR block');
    expect(rawError({ remoteContent: { allowPrivateAddresses: ['localhost'] } })).toContain('remoteContent.allowPrivateAddresses.0: "localhost" is not an IP address or CIDR block');
    expect(rawError({ webhooks: { allowPrivateAddresses: ['fd00::/129'] } })).toContain('webhooks.allowPrivateAddresses.0:');
    expect(rawError({ remoteContent: { allowedHosts: ['https://cdn.example.com/'] } })).toContain('remoteContent.allowedHosts.0: must be a host name');
    // Half a bracket pair: no URL's host is ever written so, the entry would match nothing.
    expect(rawError({ remoteContent: { allowedHosts: ['[::1', '[10.0.0.1]'] } })).toMatch(/allowedHosts\.0: must be a host name[^]*allowedHosts\.1: must be a host name/);
    expect(loadConfig({ raw: { remoteContent: { allowedHosts: ['[::1]', '::1'] } } }).remoteContent.allowedHosts).toHaveLength(2);
    const ok = { remoteContent: { allowedHosts: ['cdn.example.com', '*.example.net', '192.0.2.1'], allowPrivateAddresses: ['fd00::/8'] } };
    expect(loadConfig({ raw: ok }).remoteContent.allowedHosts).toHaveLength(3);
  });

  it('listen.host with a port is refused, naming the key, instead of failing the listen with ENOTFOUND', () => {
    expect(rawError({ listen: { host: '127.0.0.1:8080' } })).toContain('listen.host: a host without port: the port goes in listen.port');
    expect(loadConfig({ raw: { listen: { host: '::1' } } }).listen.host).toBe('::1');
  });

  it('two operators routing the same prefix are refused (which one got the traffic depended on the file order)', () => {
    const second = { id: 78, type: 'mm7', prefixes: ['44', '1'], mm7: { url: 'http://mmsc.example/mm7' } };
    expect(rawError({ operators: [operator(), second] })).toContain('operators.1.prefixes.1: prefix 1 is already routed to operator 77');
  });
});
