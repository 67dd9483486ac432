/**
 * End-to-end test helpers: a real gateway on 127.0.0.1 (ephemeral port, fresh SQLite file, short retry schedules),
 * a recording webhook sink standing in for a customer endpoint, multipart request builders, and a way to run the
 * gateway as a child process (`bin/mmsgate.js serve`) for crash tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { request } from 'undici';
import { stringify as toYaml } from 'yaml';
import { loadConfig, type LoadedConfig } from '../../src/config/load.ts';
import type { ConfigInput } from '../../src/config/schema.ts';
import { startGateway, type Gateway, type StartOptions } from '../../src/gateway.ts';
import { buildMultipart, type MultipartPartInput } from '../../src/shared/multipart-writer.ts';

/** Repository root (for spawning bin/mmsgate.js). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The test account (owner of short code 88600 and long number 15557770000). */
export const ACCOUNT = { id: 'acme', password: 'acme-secret-1' } as const;
/** A second account, to check that accounts cannot see each other's messages. */
export const OTHER_ACCOUNT = { id: 'globex', password: 'globex-secret-2' } as const;

/** Basic Authorization header value (RFC 7617). */
export function basic(user: string, pass: string): string {
  return `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
}

/** Authorization header of the test account. */
export const AUTH = basic(ACCOUNT.id, ACCOUNT.password);
/** Authorization header of the other account. */
export const OTHER_AUTH = basic(OTHER_ACCOUNT.id, OTHER_ACCOUNT.password);

/** Options of the raw test configuration. */
export interface TestConfigOptions {
  /** reportUrl for the test account's mtConfigs (default and config1). */
  reportUrl?: string;
  /** moUrl of 88600. */
  moUrl?: string;
  /** SQLite file (default: a fresh one in `dir`). */
  dbFile?: string;
  /** Folder for data (default: a fresh temp dir). */
  dir?: string;
  port?: number;
  /** More mtConfigs of the test account, beside default and config1 (e.g. a test one, `simulate: true`). */
  moreMtConfigs?: Record<string, Record<string, unknown>>;
}

/**
 * The raw configuration the tests start from: two accounts, one simulator operator (id 77, prefix "1", 50 ms
 * delivery delay), short retry schedules and a 50 ms queue poll.
 */
/** Host names a test gateway may fetch remote content from. */
export const LOOPBACK_HOSTS = ['127.0.0.1', 'localhost', '::1'];

export function testConfig(opts: TestConfigOptions & { dir: string }): ConfigInput {
  const mtConfig = opts.reportUrl ? { reportUrl: opts.reportUrl } : {};
  return {
    listen: { host: '127.0.0.1', port: opts.port ?? 0 },
    dataDir: opts.dir,
    store: `sqlite:${opts.dbFile ?? path.join(opts.dir, 'mmsgate.db')}`,
    node: { id: 'test-node' },
    log: { level: 'silent' },
    // The tests use the virtual handsets and MO injection.
    sandbox: { enabled: true },
    accounts: [
      {
        id: ACCOUNT.id,
        password: ACCOUNT.password,
        mtConfigs: { default: mtConfig, config1: mtConfig, ...opts.moreMtConfigs },
        numbers: [{ number: '88600', ...(opts.moUrl ? { moUrl: opts.moUrl } : {}) }, { number: '15557770000' }],
      },
      {
        id: OTHER_ACCOUNT.id,
        password: OTHER_ACCOUNT.password,
        mtConfigs: { default: {} },
        numbers: [{ number: '88700' }],
      },
    ],
    operators: [{ id: 77, name: 'Sim Mobile', type: 'simulator', prefixes: ['1'], simulator: { deliveryDelay: '50ms' } }],
    webhooks: {
      reports: { retrySchedule: ['50ms', '100ms', '200ms'], maxAge: '1m' },
      mo: { retrySchedule: ['50ms', '100ms', '200ms'], maxAge: '1m' },
      timeout: '2s',
      max4xxAttempts: 3,
    },
    submit: { retrySchedule: ['50ms', '100ms', '200ms'], maxAge: '1m' },
    queue: { pollInterval: '50ms', leaseTime: '5s' },
  };
}

/** A gateway started for a test. */
export interface TestGateway {
  /** Base URL, e.g. http://127.0.0.1:40123 */
  url: string;
  gateway: Gateway;
  /** The temp dir holding the SQLite file. */
  dir: string;
  /** Stop the gateway and delete its files. */
  stop(): Promise<void>;
}

type Overrides = Partial<Record<keyof ConfigInput, unknown>>;

/**
 * Start a gateway in this process on 127.0.0.1, port 0, with a fresh SQLite file. `overrides` replace top-level
 * keys of the test configuration (see testConfig); `raw` replaces it entirely (e.g. `{}` for the sandbox shape).
 */
export async function startTestGateway(
  overrides: Overrides = {},
  opts: TestConfigOptions & { raw?: ConfigInput; start?: StartOptions; keepDir?: boolean } = {},
): Promise<TestGateway> {
  const dir = opts.dir ?? mkdtempSync(path.join(tmpdir(), 'mmsgate-e2e-'));
  const merged = (opts.raw ?? { ...testConfig({ ...opts, dir }), ...overrides }) as ConfigInput;
  // Tests never leave the machine: remote content from any host but loopback is refused before DNS (the address
  // guard still decides about loopback itself, so its tests keep their meaning).
  const raw: ConfigInput = { ...merged, remoteContent: { allowedHosts: LOOPBACK_HOSTS, ...(merged.remoteContent ?? {}) } };
  return launch(() => loadConfig({ raw: raw as ConfigInput }), dir, { removeOnFailure: !opts.dir, removeOnStop: !opts.keepDir && !opts.dir, start: opts.start });
}

/** Start a gateway in `dir` (quiet logs unless `start` says otherwise); the handle removes the folder as told. */
async function launch(
  config: () => LoadedConfig,
  dir: string,
  o: { removeOnFailure: boolean; removeOnStop: boolean; start?: StartOptions },
): Promise<TestGateway> {
  let gateway: Gateway;
  try {
    gateway = await startGateway(config(), { logger: pino({ level: 'silent' }), logRequests: false, ...o.start });
  } catch (err) {
    if (o.removeOnFailure) rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url: gateway.url,
    gateway,
    dir,
    async stop() {
      await gateway.stop();
      if (o.removeOnStop) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Start the gateway with the sandbox defaults (no accounts or operators configured: the `Aladdin` account, operator
 * 77), listening on a free port that is known before start because the sandbox's own inbox URLs contain it.
 */
export async function startSandboxGateway(): Promise<TestGateway> {
  const dir = mkdtempSync(path.join(tmpdir(), 'mmsgate-sandbox-'));
  const port = await freePort();
  return launch(() => loadConfig({ port, host: '127.0.0.1', dataDir: dir }), dir, { removeOnFailure: true, removeOnStop: true });
}

/** A free TCP port on 127.0.0.1 (bound, read, released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createNetServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** One request a sink received. */
export interface SinkRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The status the sink answered with. */
  answered: number;
  at: number;
}

/** A full answer of the sink. */
export interface SinkAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: Buffer | string;
}

/** A recording HTTP endpoint standing in for a customer's reportUrl / moUrl. */
export interface Sink {
  /** Base URL, e.g. http://127.0.0.1:40124 */
  url: string;
  port: number;
  /** Every request answered, in arrival order (refused connections are not requests). */
  requests: SinkRequest[];
  /** Status to answer with (default 200); a function decides per request, optionally with headers and a body. */
  respondWith(status: number | ((req: SinkRequest) => number | SinkAnswer)): void;
  /** Stop listening (connections are refused) until `resume()`; open connections are destroyed. */
  refuse(): Promise<void>;
  /** Listen again on the same port. */
  resume(): Promise<void>;
  /** Resolve once `pred` holds for the recorded requests (polling), or reject after `timeoutMs`. */
  waitFor(pred: (reqs: SinkRequest[]) => boolean, timeoutMs?: number): Promise<SinkRequest[]>;
  close(): Promise<void>;
}

/** Start a recording sink on 127.0.0.1 (ephemeral port unless given). */
export async function startSink(port = 0): Promise<Sink> {
  const requests: SinkRequest[] = [];
  let decide: (req: SinkRequest) => number | SinkAnswer = () => 200;
  const sockets = new Set<Socket>();
  let server: Server;
  const listen = (p: number): Promise<number> => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const rec: SinkRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks), answered: 0, at: Date.now() };
        const d = decide(rec);
        const answer: SinkAnswer = typeof d === 'number' ? { status: d } : d;
        rec.answered = answer.status;
        requests.push(rec);
        res.writeHead(answer.status, { 'content-type': 'text/plain', ...answer.headers });
        res.end(answer.body ?? (answer.status < 300 ? 'ok' : 'no'));
      });
    });
    server.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(p, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
    });
  };
  const closeServer = (): Promise<void> =>
    new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  const actualPort = await listen(port);
  return {
    url: `http://127.0.0.1:${actualPort}`,
    port: actualPort,
    requests,
    respondWith(status) {
      decide = typeof status === 'number' ? () => status : status;
    },
    refuse: closeServer,
    async resume() {
      await listen(actualPort);
    },
    async waitFor(pred, timeoutMs = 10_000) {
      const end = Date.now() + timeoutMs;
      while (!pred(requests)) {
        if (Date.now() > end) throw new Error(`sink: condition not met within ${timeoutMs} ms (${requests.length} requests so far)`);
        await sleep(25);
      }
      return requests;
    },
    close: closeServer,
  };
}

/** Sleep. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Poll `fn` until it returns a value other than undefined, or throw after `timeoutMs`. */
export async function eventually<T>(fn: () => Promise<T | undefined>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** The JSON control part of a send, as the OpenMarket documentation shows it. */
export interface MtControl {
  type?: string;
  source?: string | number;
  destination?: string | number;
  mtConfig?: string;
  subject?: string;
  mobileOperatorId?: number | string;
  [k: string]: unknown;
}

/** A send request: Content-Type header and body. */
export interface BuiltRequest {
  contentType: string;
  body: Buffer;
}

/**
 * A well-formed send request (RFC 2046 multipart/mixed): the JSON part (Content-Id main) and the given content
 * parts (default: one text/plain part).
 */
export function buildMultipartRequest(control: MtControl, content?: MultipartPartInput[]): BuiltRequest {
  const parts: MultipartPartInput[] = [
    { headers: { 'Content-Type': 'application/json', 'Content-Id': 'main' }, body: JSON.stringify(control) },
    ...(content ?? [{ headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Id': 'text.txt' }, body: 'Hello from the tests' }]),
  ];
  const { contentType, body } = buildMultipart(parts);
  return { contentType, body };
}

/** A simple MT from 88600 to `destination` with one text part. */
export function simpleMt(destination: string, extra: MtControl = {}): BuiltRequest {
  return buildMultipartRequest({ type: 'MT', source: '88600', destination, subject: 'Test', ...extra });
}

/** Response of a request made by the helpers. */
export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** Body parsed as JSON (undefined if it is not JSON). */
  json: any;
}

/** Make an HTTP request and read the whole answer. */
export async function http(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: Buffer | string } = {},
): Promise<HttpResult> {
  const res = await request(url, { method: (init.method ?? 'GET') as 'GET', headers: init.headers, body: init.body });
  const body = Buffer.from(await res.body.arrayBuffer());
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, headers: res.headers, body, json };
}

/** POST a send request with the test account (or the given Authorization). */
export function send(baseUrl: string, req: BuiltRequest, auth: string | null = AUTH, extraHeaders: Record<string, string> = {}): Promise<HttpResult> {
  const headers: Record<string, string> = { 'content-type': req.contentType, ...extraHeaders };
  if (auth !== null) headers.authorization = auth;
  return http(`${baseUrl}/mms/v2/send`, { method: 'POST', headers, body: req.body });
}

/** GET the status of an MT. */
export function status(baseUrl: string, mtId: number, auth: string = AUTH): Promise<HttpResult> {
  return http(`${baseUrl}/mms/v2/status/${mtId}`, { headers: { authorization: auth } });
}

/** A gateway running as a child process (`node bin/mmsgate.js serve`). */
export interface ChildGateway {
  url: string;
  port: number;
  proc: ChildProcess;
  /** stdout + stderr so far (for failure messages). */
  output(): string;
  /** SIGKILL and wait for the exit. */
  kill9(): Promise<void>;
  /** SIGTERM (graceful shutdown) and wait for the exit; resolves with the exit code (null if killed by a signal). */
  stop(): Promise<number | null>;
}

/** Write a YAML config file for `mmsgate serve`. */
export function writeConfigFile(file: string, raw: ConfigInput): void {
  writeFileSync(file, toYaml(raw));
}

/**
 * Spawn `node bin/mmsgate.js serve --config <file> --port <port>` and wait until /healthz answers.
 */
export async function spawnGateway(configFile: string, port: number, timeoutMs = 30_000): Promise<ChildGateway> {
  const proc = spawn(process.execPath, [path.join(REPO_ROOT, 'bin/mmsgate.js'), 'serve', '--config', configFile, '--port', String(port)], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_ENV: 'test' },
  });
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => (out = (out + c.toString()).slice(-20_000)));
  proc.stderr!.on('data', (c: Buffer) => (out = (out + c.toString()).slice(-20_000)));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`gateway exited during start:\n${out}`);
    try {
      const r = await http(`${url}/healthz`);
      if (r.status === 200) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > end) {
      proc.kill('SIGKILL');
      throw new Error(`gateway did not start within ${timeoutMs} ms:\n${out}`);
    }
    await sleep(100);
  }
  const waitExit = async (sig: NodeJS.Signals): Promise<number | null> => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(sig);
    await exited;
    return proc.exitCode;
  };
  return {
    url,
    port,
    proc,
    output: () => out,
    kill9: async () => {
      await waitExit('SIGKILL');
    },
    stop: () => waitExit('SIGTERM'),
  };
}
