/**
 * Helpers for the customer-side acceptance tests: captured CLI streams, temp folders cleaned up after each test,
 * a real JPEG made with sharp, and readers for the sandbox handset API and the gateway's job table.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import sharp from 'sharp';
import { eventually, http } from '../support/gateway.ts';
import type { TestGateway } from '../support/gateway.ts';

/** A writable stream that keeps what was written, for a command's stdout/stderr. */
export class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

/** The streams and environment a CLI command runs with in a test (empty environment: no MMSGATE_* leaks in). */
export function cliIo(env: NodeJS.ProcessEnv = {}, signal?: AbortSignal) {
  return { stdout: new Capture(), stderr: new Capture(), env, ...(signal ? { signal } : {}) };
}

/** Things to undo after each test, newest first. */
export class Cleanups {
  private readonly fns: (() => Promise<unknown>)[] = [];
  /** Registers an undo step. */
  add(fn: () => Promise<unknown>): void {
    this.fns.push(fn);
  }
  /** Runs and forgets every step. */
  async run(): Promise<void> {
    for (const fn of this.fns.splice(0).reverse()) await fn().catch(() => undefined);
  }
  /** A fresh temp folder, deleted by {@link run}. */
  async tempDir(prefix = 'mmsgate-client-e2e-'): Promise<string> {
    const d = await mkdtemp(join(tmpdir(), prefix));
    this.add(() => rm(d, { recursive: true, force: true }));
    return d;
  }
}

/** A real baseline JPEG (noise, so it does not compress to nothing), small enough to pass without adaptation. */
export async function makeJpeg(width = 160, height = 120): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * 3);
  let x = 0x12345678;
  for (let i = 0; i < raw.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    raw[i] = (i % 3 === 0 ? (i / 3) % width : x) & 0xff;
  }
  return sharp(raw, { raw: { width, height, channels: 3 } }).jpeg({ quality: 80 }).toBuffer();
}

/** One message a virtual handset received, as GET /sandbox/handsets/{number}/messages lists it. */
export interface HandsetListing {
  mtId: number;
  source: string;
  subject: string | null;
  parts: { contentType: string; contentId: string; size: number; url: string }[];
}

/** What the virtual handset `number` received on gateway `gw`, newest first. */
export async function handsetMessages(gw: TestGateway, number: string): Promise<HandsetListing[]> {
  const r = await http(`${gw.url}/sandbox/handsets/${number}/messages`);
  if (r.status !== 200) throw new Error(`handset listing answered ${r.status}: ${r.body.toString()}`);
  return r.json as HandsetListing[];
}

/** Waits until the handset has at least `n` messages and returns them. */
export function waitForHandset(gw: TestGateway, number: string, n = 1, timeoutMs = 10_000): Promise<HandsetListing[]> {
  return eventually(
    async () => {
      const list = await handsetMessages(gw, number);
      return list.length >= n ? list : undefined;
    },
    timeoutMs,
    `handset ${number} has ${n} message(s)`,
  );
}

/** The exact bytes of one received part (the listing's `url`). */
export async function handsetPartBytes(gw: TestGateway, partUrl: string): Promise<Buffer> {
  const r = await http(`${gw.url}${partUrl}`);
  if (r.status !== 200) throw new Error(`part ${partUrl} answered ${r.status}`);
  return r.body;
}

/** How many messages the gateway accepted into its store (each accepted MT gets exactly one submit job). */
export async function storedMessageCount(gw: TestGateway): Promise<number> {
  return (await gw.gateway.store.listJobs({ kind: 'submit', limit: 10_000 })).length;
}

/** Resolves once `pred(text())` holds, polling; rejects with the text so far after `timeoutMs`. */
export async function waitForText(text: () => string, pred: (t: string) => boolean, timeoutMs = 10_000): Promise<string> {
  const end = Date.now() + timeoutMs;
  while (!pred(text())) {
    if (Date.now() > end) throw new Error(`output condition not met within ${timeoutMs} ms; output so far:\n${text()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return text();
}
