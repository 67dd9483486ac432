/**
 * Load, default, validate and freeze the configuration.
 * With no file: the sandbox (one simulated operator 77 serving prefix "1", the account `Aladdin` / `open sesame`
 * from the seed's own example Authorization header, owning 88600 with mtConfigs default and config1, whose reports
 * and MO land in the gateway's own sandbox inbox).
 */
import { readFileSync } from 'node:fs';
import { hash, randomBytes, X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { hostname } from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { hashSecret } from '../core/secrets.ts';
import { describeIssues } from './issues.ts';
import { configSchema, type Config, type ConfigInput } from './schema.ts';

/** The sandbox account: the credentials in the OpenMarket documentation's example (`Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==`). */
export const SANDBOX_ACCOUNT = { id: 'Aladdin', password: 'open sesame' } as const;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** A validated, frozen configuration with secrets hashed, plus how it came about. */
export interface LoadedConfig extends Config {
  /** Resolved store URL. */
  readonly storeUrl: string;
  /** Resolved node id. */
  readonly nodeId: string;
  /** True when the sandbox defaults were used (no config file). */
  readonly sandboxDefaults: boolean;
  /** sandbox.enabled resolved: as set, else on only with the sandbox defaults. */
  readonly sandbox: { readonly enabled: boolean; readonly hosts: string[] };
  /**
   * A digest of each top-level setting as written (before secrets are hashed with fresh salts), accounts left out:
   * what a reload compares to tell which settings changed (changedSettings).
   */
  readonly settingsDigests: Readonly<Record<string, string>>;
  /**
   * For each account given by a plain `password`: a digest of it under a salt that never leaves this process (as the
   * credential cache's keys, api/auth.ts), so that a reload can tell an unchanged password without hashing it again
   * (LoadOptions.previous). Not the password, and not usable outside this process.
   */
  readonly plainPasswordDigests: Readonly<Record<string, string>>;
  /** listen.tls with the PEM files read (at start, so a missing file is a configuration error). */
  readonly listenTls?: { readonly cert: string; readonly key: string; readonly minVersion: 'TLSv1.2' | 'TLSv1.3' };
}

export interface LoadOptions {
  file?: string;
  port?: number;
  host?: string;
  dataDir?: string;
  /** Raw object instead of a file (tests). */
  raw?: ConfigInput;
  /**
   * Read the PEM files the configuration names (listen.tls's certificate and key, operators' mm7.ca; default true).
   * Commands that only need the store (`mmsgate jobs`) say false: they must not need the private key, nor fail where
   * a path does not resolve. Their loaded config then has neither listenTls nor the CA texts.
   */
  readPemFiles?: boolean;
  /**
   * The configuration this process loaded before (a SIGHUP reload): an account whose plain `password` is the same as
   * then keeps the scrypt hash made then instead of a fresh one. A fresh hash (a new salt) costs ~40 ms of the event
   * loop per account and makes every credential verified against the old hash go through scrypt again.
   */
  previous?: LoadedConfig;
}

/** Salt of plainPasswordDigests: random per process. */
const PLAIN_DIGEST_SALT = randomBytes(32).toString('base64');

function plainPasswordDigest(accountId: string, password: string): string {
  return hash('sha256', `${PLAIN_DIGEST_SALT}\0${accountId}\0${password}`, 'base64');
}

/** Read, default, validate and freeze. Throws ConfigError naming the bad key. */
export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  let raw: Record<string, unknown>;
  let sandboxDefaults = false;
  if (opts.raw) raw = structuredClone(opts.raw) as Record<string, unknown>;
  else if (opts.file) {
    let text: string;
    try {
      text = readFileSync(opts.file, 'utf8');
    } catch (e) {
      throw new ConfigError(`cannot read config file ${opts.file}: ${(e as Error).message}`);
    }
    try {
      raw = parseYaml(text) as Record<string, unknown>;
    } catch (e) {
      // The parser's message quotes the offending line, which may be a password's (and `mmsgate serve` logs a
      // failed reload): only its first line, what is wrong and where, is kept.
      const what = (e as Error).message.split('\n', 1)[0]!.replace(/:$/, '');
      throw new ConfigError(`config file ${opts.file} is not valid YAML: ${what}`);
    }
    // An empty file would start a gateway with no account and no operator, which refuses every request: most likely
    // the wrong file, or one not yet written. (Without --config the sandbox starts, with an account and an operator.)
    if (raw === null || raw === undefined) {
      throw new ConfigError(`config file ${opts.file} is empty: it needs at least accounts and operators (docs/configuration.md)`);
    }
    if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError('config file must hold a YAML mapping');
  } else {
    raw = {};
    sandboxDefaults = true;
  }
  // The overrides go into a listen mapping; anything else (`listen: 9090`) is left for the schema to refuse, not
  // spread into an empty mapping that silently listens on the default port.
  if (raw.listen === undefined || raw.listen === null || (typeof raw.listen === 'object' && !Array.isArray(raw.listen))) {
    const listen = { ...((raw.listen as object) ?? {}) } as Record<string, unknown>;
    if (opts.port !== undefined) listen.port = opts.port;
    if (opts.host !== undefined) listen.host = opts.host;
    raw.listen = listen;
  }
  if (opts.dataDir !== undefined) raw.dataDir = opts.dataDir;

  // reportInput: the issue's input tells a missing key from a wrong value (issues.ts); the values are never printed.
  const parsed = configSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) {
    throw new ConfigError(`invalid configuration:\n${describeIssues(configSchema, parsed.error.issues).join('\n')}`);
  }
  const cfg = parsed.data;
  if (sandboxDefaults) applySandbox(cfg);
  checkCrossReferences(cfg);

  const plainPasswordDigests: Record<string, string> = {};
  const accounts = cfg.accounts.map((a) => {
    if (a.password === undefined) return { ...a, passwordHash: a.passwordHash!, password: undefined }; // the schema demands one of the two
    const digest = plainPasswordDigest(a.id, a.password);
    plainPasswordDigests[a.id] = digest;
    const before = opts.previous?.plainPasswordDigests[a.id] === digest ? opts.previous.accounts.find((p) => p.id === a.id)?.passwordHash : undefined;
    return { ...a, passwordHash: before ?? hashSecret(a.password), password: undefined };
  });
  const readFiles = opts.readPemFiles !== false;
  const operators = cfg.operators.map((o, i) => {
    const ca = o.mm7?.ca;
    const withCa = ca === undefined ? o : { ...o, mm7: { ...o.mm7!, ca: readFiles ? readCaPem(ca, `operators.${i}.mm7.ca`) : undefined } };
    return withCa.inbound?.password !== undefined
      ? { ...withCa, inbound: { ...withCa.inbound, passwordHash: withCa.inbound.passwordHash ?? hashSecret(withCa.inbound.password), password: undefined } }
      : withCa;
  });
  const storeUrl = cfg.store ?? `sqlite:${path.join(cfg.dataDir, 'mmsgate.db')}`;
  const nodeId = cfg.node.id ?? defaultNodeId(hostname(), cfg.listen.port);
  const tls = readFiles ? cfg.listen.tls : undefined;
  const listenTls = tls ? readListenTls(tls) : undefined;
  const sandbox = { enabled: cfg.sandbox.enabled ?? sandboxDefaults, hosts: cfg.sandbox.hosts };
  const settingsDigests: Record<string, string> = {};
  for (const [key, value] of Object.entries(cfg)) {
    if (key !== 'accounts') settingsDigests[key] = hash('sha256', JSON.stringify(value ?? null, sortedKeys), 'base64');
  }
  return deepFreeze({ ...cfg, accounts, operators, storeUrl, nodeId, sandboxDefaults, sandbox, settingsDigests, plainPasswordDigests, ...(listenTls ? { listenTls } : {}) }) as LoadedConfig;
}

/**
 * The top-level settings other than accounts that differ between two loads of a configuration (a reload applies
 * accounts only; these wait for a restart).
 */
export function changedSettings(before: LoadedConfig, after: LoadedConfig): string[] {
  const keys = new Set([...Object.keys(before.settingsDigests), ...Object.keys(after.settingsDigests)]);
  return [...keys].filter((k) => before.settingsDigests[k] !== after.settingsDigests[k]).sort();
}

/**
 * listen.tls's files, read and checked (at start, and again on a reload: `mmsgate serve` on SIGHUP). Throws a
 * ConfigError naming the key.
 */
export function readListenTls(tls: { cert: string; key: string; minVersion: 'TLSv1.2' | 'TLSv1.3' }): NonNullable<LoadedConfig['listenTls']> {
  return checkedTls(readPem(tls.cert, 'listen.tls.cert'), readPem(tls.key, 'listen.tls.key'), tls.minVersion);
}

/** The certificate and key as a TLS server would use them: a key that does not match, or cannot be read, fails here. */
function checkedTls(cert: string, key: string, minVersion: 'TLSv1.2' | 'TLSv1.3') {
  try {
    createSecureContext({ cert, key, minVersion });
  } catch (e) {
    // OpenSSL's message (e.g. "key values mismatch"), never the PEM text.
    throw new ConfigError(`invalid configuration:\n  listen.tls: the certificate and key cannot be used together: ${(e as Error).message}`);
  }
  return { cert, key, minVersion };
}

/**
 * A file of CA certificates to trust: PEM CERTIFICATE blocks only, at least one, each a certificate X509Certificate can
 * read (TLS would silently ignore anything else and then refuse every connection; a private key put here by mistake
 * must not be kept).
 */
function readCaPem(file: string, key: string): string {
  const text = readPem(file, key);
  const blocks = [...text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g)];
  const bad = (why: string): ConfigError => new ConfigError(`invalid configuration:\n  ${key}: ${file} ${why}`);
  if (blocks.length === 0) throw bad('holds no complete PEM block');
  for (const [block, type] of blocks) {
    if (type !== 'CERTIFICATE') throw bad(`holds a ${type} block; only CERTIFICATE blocks belong in a CA file`);
    try {
      new X509Certificate(block);
    } catch (e) {
      throw bad(`holds a certificate that cannot be read: ${(e as Error).message}`);
    }
  }
  return text;
}

/** A PEM file of the configuration (a path relative to the working directory), or a ConfigError naming its key. */
function readPem(file: string, key: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`invalid configuration:\n  ${key}: cannot read ${file}: ${(e as Error).message}`);
  }
  if (!text.includes('-----BEGIN ')) throw new ConfigError(`invalid configuration:\n  ${key}: ${file} is not a PEM file`);
  return text;
}

function applySandbox(cfg: Config): void {
  const base = `http://${cfg.listen.host.includes(':') ? `[${cfg.listen.host}]` : cfg.listen.host}:${cfg.listen.port}`;
  const host = cfg.listen.host === '0.0.0.0' || cfg.listen.host === '::' ? `http://127.0.0.1:${cfg.listen.port}` : base;
  const reportUrl = `${host}/sandbox/inbox/reports`;
  cfg.accounts.push({
    id: SANDBOX_ACCOUNT.id,
    password: SANDBOX_ACCOUNT.password,
    mtConfigs: { default: { reportUrl }, config1: { reportUrl } },
    numbers: [{ number: '88600', moUrl: `${host}/sandbox/inbox/mo` }],
    webhookSecrets: [],
  });
  cfg.operators.push(
    configSchema.shape.operators.unwrap().element.parse({
      id: 77,
      name: 'Sim Mobile',
      type: 'simulator',
      prefixes: ['1'],
      simulator: {},
    }),
  );
}

function checkCrossReferences(cfg: Config): void {
  const problems: string[] = [];
  const accIds = new Set<string>();
  const owned = new Map<string, string>();
  cfg.accounts.forEach((a, i) => {
    if (accIds.has(a.id)) problems.push(`accounts.${i}.id: duplicate account id ${a.id}`);
    accIds.add(a.id);
    a.numbers.forEach((n, j) => {
      const prev = owned.get(n.number);
      if (prev) problems.push(`accounts.${i}.numbers.${j}.number: ${n.number} is already owned by ${prev}`);
      owned.set(n.number, a.id);
    });
    if (Object.keys(a.mtConfigs).length === 0) problems.push(`accounts.${i}.mtConfigs: at least one mtConfig is needed`);
  });
  const opIds = new Set<number>();
  // Longest prefix wins; between two operators with the same prefix nothing decides, so which one gets the traffic
  // would depend on the order of the file.
  const routed = new Map<string, number>();
  cfg.operators.forEach((o, i) => {
    if (opIds.has(o.id)) problems.push(`operators.${i}.id: duplicate operator id ${o.id}`);
    opIds.add(o.id);
    o.prefixes.forEach((p, j) => {
      const prev = routed.get(p);
      if (prev !== undefined) problems.push(`operators.${i}.prefixes.${j}: prefix ${p} is already routed to operator ${prev}`);
      routed.set(p, o.id);
    });
  });
  if (problems.length) throw new ConfigError(`invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as object)) deepFreeze(v);
  }
  return o;
}

/** `<hostname>-<port>`, with anything node.id may not hold replaced by '-' and cut to its 64 characters. */
export function defaultNodeId(host: string, port: number): string {
  const suffix = `-${port}`;
  const cleaned = host.replace(/[^A-Za-z0-9._:-]/g, '-').replace(/^[^A-Za-z0-9]+/, '');
  return `${(cleaned || 'node').slice(0, 64 - suffix.length)}${suffix}`;
}

/** JSON.stringify replacer: objects with their keys in order, so that keys moved around in the file change nothing. */
function sortedKeys(_key: string, value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
