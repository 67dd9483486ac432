/**
 * A raw HTTP/1.1 connection for tests that need what an HTTP client library hides: when the answer arrives relative
 * to the upload, `Connection` handling, interim 1xx answers, and when the server closes.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

/** One answer as read off the wire. */
export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export class RawConnection {
  readonly socket: Socket;
  private received = Buffer.alloc(0);
  /** Bytes of `received` already returned as answers. */
  private consumed = 0;
  private waiters: (() => void)[] = [];
  /** Body bytes this side handed to the kernel (write callbacks fired). */
  flushed = 0;
  /** Set once the server ended its side (FIN) or the connection reset. */
  closedAt: number | undefined;
  /** Set when the connection ended with an error (ECONNRESET, EPIPE). */
  error: NodeJS.ErrnoException | undefined;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (c: Buffer) => {
      this.received = Buffer.concat([this.received, c]);
      this.wake();
    });
    socket.on('end', () => {
      this.closedAt ??= Date.now();
      this.wake();
    });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      this.error = e;
      this.closedAt ??= Date.now();
      this.wake();
    });
    socket.on('close', () => {
      this.closedAt ??= Date.now();
      this.wake();
    });
  }

  static open(port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => resolve(new RawConnection(s)));
      s.once('error', reject);
    });
  }

  /** Writes bytes; resolves once the kernel took them (never, if the server stopped reading and the buffers are full). */
  write(data: Buffer | string): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.socket.destroyed) return reject(new Error('socket destroyed'));
      const n = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
      this.socket.write(data, (err) => {
        if (err) return reject(err);
        this.flushed += n;
        resolve();
      });
    });
  }

  /** Writes `total` bytes of filler in 64 KiB pieces, stopping early (without error) when the connection ends. */
  async pump(total: number, fill = 0x41): Promise<void> {
    const piece = Buffer.alloc(64 * 1024, fill);
    for (let left = total; left > 0 && this.closedAt === undefined; left -= piece.length) {
      try {
        await this.write(left >= piece.length ? piece : piece.subarray(0, left));
      } catch {
        return;
      }
    }
  }

  /** The next complete answer (an interim 1xx counts), or an error after `timeoutMs`. */
  async next(timeoutMs = 5_000): Promise<RawResponse> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const r = this.parse();
      if (r) return r;
      if (this.closedAt !== undefined) throw new Error(`connection closed without a complete answer; got: ${this.text().slice(0, 300)}`);
      if (Date.now() > end) throw new Error(`no complete answer within ${timeoutMs} ms; got: ${this.text().slice(0, 300)}`);
      await this.until(end);
    }
  }

  /** Resolves true once the server has closed the connection, false if it is still open after `timeoutMs`. */
  async closed(timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (this.closedAt === undefined && Date.now() < end) await this.until(end);
    return this.closedAt !== undefined;
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Everything not yet returned as an answer. */
  text(): string {
    return this.received.subarray(this.consumed).toString('latin1');
  }

  private parse(): RawResponse | undefined {
    const text = this.text();
    const head = parseResponseHead(text);
    if (!head) return undefined;
    const { status, headers, headEnd } = head;
    const length = status < 200 ? 0 : Number(headers['content-length'] ?? 0);
    if (Buffer.byteLength(text, 'latin1') < headEnd + 4 + length) return undefined;
    const body = text.slice(headEnd + 4, headEnd + 4 + length);
    this.consumed += headEnd + 4 + length;
    return { status, headers, body };
  }

  private until(end: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, Math.max(0, Math.min(50, end - Date.now())));
      this.waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

/** The head of a POST /mms/v2/send request. */
/** Status line and headers (names lower-cased) of an HTTP/1.1 answer, once `text` holds all of them; headEnd is where the blank line starts. */
export function parseResponseHead(text: string): { status: number; headers: Record<string, string>; headEnd: number } | undefined {
  const headEnd = text.indexOf('\r\n\r\n');
  if (headEnd < 0) return undefined;
  const lines = text.slice(0, headEnd).split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  return { status: Number(lines[0]!.split(' ')[1]), headers, headEnd };
}

export function sendHead(opts: { auth?: string | null; contentType?: string; contentLength?: number; extra?: Record<string, string> }): string {
  let h = 'POST /mms/v2/send HTTP/1.1\r\nHost: 127.0.0.1\r\n';
  if (opts.auth) h += `Authorization: ${opts.auth}\r\n`;
  if (opts.contentType !== undefined) h += `Content-Type: ${opts.contentType}\r\n`;
  if (opts.contentLength !== undefined) h += `Content-Length: ${opts.contentLength}\r\n`;
  for (const [k, v] of Object.entries(opts.extra ?? {})) h += `${k}: ${v}\r\n`;
  return `${h}\r\n`;
}

/**
 * A gateway for a test file that talks raw HTTP to it: started before the file's tests with `config`, stopped after
 * them together with every connection opened through `connection()`.
 */
export function rawGatewayFixture(config: Parameters<typeof startTestGateway>[0]): { gw(): TestGateway; connection(): Promise<RawConnection> } {
  let gw: TestGateway | undefined;
  const open: RawConnection[] = [];
  beforeAll(async () => {
    gw = await startTestGateway(config);
  });
  afterAll(async () => {
    for (const c of open) c.destroy();
    await gw?.stop();
  });
  return {
    gw: () => gw!,
    async connection() {
      const c = await RawConnection.open(Number(new URL(gw!.url).port));
      open.push(c);
      return c;
    },
  };
}

/**
 * A gateway per test, for tests that stop it (draining): `start(config)` in the test, and after each test every
 * connection opened through `connection()` is closed and the gateway stopped (if the test has not).
 */
export function rawGatewayPerTest(): { start(config?: Parameters<typeof startTestGateway>[0]): Promise<TestGateway>; connection(): Promise<RawConnection> } {
  let gw: TestGateway | undefined;
  const open: RawConnection[] = [];
  afterEach(async () => {
    for (const c of open.splice(0)) c.destroy();
    await gw?.stop();
    gw = undefined;
  });
  return {
    async start(config) {
      gw = await startTestGateway(config);
      return gw;
    },
    async connection() {
      const c = await RawConnection.open(Number(new URL(gw!.url).port));
      open.push(c);
      return c;
    },
  };
}
