/**
 * A minimal HTTP/1.1 keep-alive client for the closed-loop load: one request at a time per connection, each request
 * written as one prebuilt buffer, each answer read by its Content-Length.
 *
 * Why not undici here: on a 2-core machine the load generator shares the cores with the server under test, and every
 * microsecond it spends per request is taken from the server (and delays the next request of the closed loop).
 * With undici (header validation, a body stream per answer, promises) the load generator spent ~35 us of CPU per
 * request on the benchmark machine; with a prebuilt request and an answer scanned for its Content-Length, ~20 us
 * (most of what is left is the kernel's loopback TCP). The open-loop load (end to end, at a fixed rate) still uses
 * undici: it needs queueing, not speed.
 *
 * Deliberately small: no chunked answers, no pipelining, no redirects, no TLS. An answer it cannot read is an error
 * with a message saying why, never a guess.
 */
import { connect, type Socket } from 'node:net';

/** One answer: status code and body bytes. */
export interface RawAnswer {
  status: number;
  body: Buffer;
}

/** Build the bytes of one POST request (head and body), to be sent as they are. */
export function buildRawRequest(opts: { host: string; path: string; headers: Record<string, string>; body: Buffer }): Buffer {
  let head = `POST ${opts.path} HTTP/1.1\r\nhost: ${opts.host}\r\nconnection: keep-alive\r\n`;
  for (const [k, v] of Object.entries(opts.headers)) head += `${k}: ${v}\r\n`;
  head += `content-length: ${opts.body.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), opts.body]);
}

const HEAD_END = Buffer.from('\r\n\r\n');
/** Longest answer head accepted (the gateway's are a few hundred bytes). */
const MAX_HEAD_BYTES = 16 * 1024;

interface Waiting {
  resolve: (a: RawAnswer) => void;
  reject: (e: Error) => void;
}

/** One keep-alive connection to host:port. Opened lazily; reopened after the server closes it. */
export class RawConnection {
  private socket: Socket | undefined;
  private pending: Buffer | undefined;
  private waiting: Waiting | undefined;
  /** Parsed head of the answer being read: body offset in `pending`, body length, whether the server closes. */
  private head: { bodyAt: number; length: number; status: number; close: boolean } | undefined;

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {}

  /** Send one prebuilt request; resolves with its answer. One at a time per connection. */
  request(bytes: Buffer): Promise<RawAnswer> {
    if (this.waiting) return Promise.reject(new Error('raw client: one request at a time per connection'));
    const socket = (this.socket ??= this.open());
    return new Promise<RawAnswer>((resolve, reject) => {
      this.waiting = { resolve, reject };
      // Written at the end of this turn of the event loop rather than at once, so that the requests whose answers
      // arrived together leave together (as undici's do when it is busy): measured, the bare server then reads
      // about 3% more requests a second than with a write per answer.
      setImmediate(() => socket.write(bytes));
    });
  }

  /** Close the connection. */
  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  private open(): Socket {
    const s = connect({ host: this.host, port: this.port, noDelay: true });
    // A socket this connection has let go of (closed after `connection: close`) is no concern of the current request.
    s.on('data', (chunk: Buffer) => {
      if (this.socket === s) this.onData(chunk);
    });
    s.on('error', (err) => {
      if (this.socket === s) this.fail(err);
    });
    s.on('close', () => {
      if (this.socket === s) this.fail(new Error('raw client: the server closed the connection before answering'));
    });
    this.pending = undefined;
    this.head = undefined;
    return s;
  }

  private fail(err: Error): void {
    const w = this.waiting;
    this.waiting = undefined;
    this.pending = undefined;
    this.head = undefined;
    this.socket?.destroy();
    this.socket = undefined;
    w?.reject(err);
  }

  private onData(chunk: Buffer): void {
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    if (!this.head) {
      const end = buf.indexOf(HEAD_END);
      if (end < 0) {
        if (buf.length > MAX_HEAD_BYTES) return this.fail(new Error('raw client: answer head too long'));
        this.pending = buf;
        return;
      }
      const head = buf.toString('latin1', 0, end);
      const status = Number(head.slice(9, 12));
      const length = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head);
      if (!head.startsWith('HTTP/1.1 ') || !(status >= 100 && status <= 599)) {
        return this.fail(new Error(`raw client: not an HTTP/1.1 answer: ${JSON.stringify(head.slice(0, 40))}`));
      }
      if (!length) return this.fail(new Error('raw client: an answer without Content-Length (chunked answers are not read)'));
      this.head = { bodyAt: end + 4, length: Number(length[1]), status, close: /\r\nconnection:[ \t]*close/i.test(head) };
    }
    const { bodyAt, length, status, close } = this.head;
    if (buf.length < bodyAt + length) {
      this.pending = buf;
      return;
    }
    if (buf.length > bodyAt + length) return this.fail(new Error('raw client: bytes after the answer (nothing was pipelined)'));
    this.pending = undefined;
    this.head = undefined;
    const w = this.waiting;
    this.waiting = undefined;
    if (close) this.close();
    w?.resolve({ status, body: buf.subarray(bodyAt) });
  }
}
