/**
 * Request deadlines while the server closes. node:http checks api.headersTimeout and api.requestTimeout from a timer
 * that `server.close()` clears, and then waits for every connection with a request under way: a client that stalls
 * its upload (or its headers) during a drain would keep the node from ever exiting. This check takes over at the
 * close: a request whose headers are still arriving `headersTimeout` after the drain began, or whose body is still
 * arriving `requestTimeout` after it, gets what node:http would have given it (408 REQUEST_TIMEOUT through the
 * 'clientError' handler) and its connection closes. Every such request began before the drain or after it, so it is
 * never cut sooner than its own deadline from the drain's start; it may be cut sooner than from its first byte, which
 * only a request that began during the drain (refused with 503 anyway) can notice.
 *
 * The close ends the connections idle at that moment only: one whose request is answered during the drain stays open
 * for keep-alive (node:http answers `Connection: keep-alive` to a request routed before the close), and the close
 * would wait keepAliveTimeout for it. Each check ends the connections idle by then, as the close did at its start.
 */
import type { ConnectionError } from 'fastify';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { bodyPending } from './replies.ts';

/** The error node:http raises for a request past its deadline (its code is what replies.ts maps to 408). */
function requestTimeoutError(): ConnectionError {
  return Object.assign(new Error('Request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT', bytesParsed: 0, rawPacket: { type: 'Buffer', data: [] } });
}

type HttpSocket = Socket & { _httpMessage?: null | { headersSent?: boolean; req?: Parameters<typeof bodyPending>[0] } };

/**
 * Track the server's HTTP connections and, from `startDrain()` on, answer those whose request stalls past its
 * deadline. `answer` is the server's 'clientError' handler. A deadline of 0 means none (as in node:http).
 */
export class DrainDeadlines {
  private readonly sockets = new Set<HttpSocket>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly server: Server,
    private readonly o: {
      tls: boolean;
      headersTimeout: number;
      requestTimeout: number;
      intervalMs: number;
      answer: (err: ConnectionError, socket: Socket) => void;
    },
  ) {
    // node:https hands HTTP its TLS sockets ('secureConnection'); node:http the raw ones.
    server.on(o.tls ? 'secureConnection' : 'connection', (s: HttpSocket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    server.once('close', () => this.stop());
  }

  /** Called as the server closes: from now on this check enforces the deadlines. */
  startDrain(): void {
    const { headersTimeout, requestTimeout, intervalMs } = this.o;
    if (this.timer || (headersTimeout === 0 && requestTimeout === 0)) return;
    const began = Date.now();
    this.timer = setInterval(() => {
      this.server.closeIdleConnections();
      const waited = Date.now() - began;
      const headersLate = headersTimeout > 0 && waited >= headersTimeout;
      const bodyLate = requestTimeout > 0 && waited >= requestTimeout;
      if (!headersLate && !bodyLate) return;
      for (const s of [...this.sockets]) {
        if (s.destroyed) continue;
        // undefined before a connection's first request, null between two (node:http detaches an answered one):
        // either way no request is under way, so headers are arriving (idle connections were ended above).
        const res = s._httpMessage;
        const late = res == null ? headersLate || bodyLate : bodyLate && !res.headersSent && res.req !== undefined && bodyPending(res.req);
        if (late) this.o.answer(requestTimeoutError(), s);
      }
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
