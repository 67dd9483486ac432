/**
 * The benchmark's raw load client (bench/raw-http-client.ts): the accept figure that `npm run bench` judges may come
 * from it, so it must read what a server answers exactly, never count a broken answer as one.
 */
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { buildRawRequest, RawConnection } from '../../bench/raw-http-client.ts';

const servers: { close(): void }[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

async function listen(server: Server | ReturnType<typeof createNetServer>): Promise<number> {
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as AddressInfo).port;
}

const body = Buffer.from('--b\r\nContent-Id: main\r\n\r\n{}\r\n--b--\r\n');
const request = (port: number) => buildRawRequest({ host: `127.0.0.1:${port}`, path: '/mms/v2/send', headers: { 'content-type': 'multipart/mixed; boundary=b' }, body });

describe('raw HTTP client of the benchmark', () => {
  it('sends the request as built and reads answers by Content-Length over one kept-alive connection', async () => {
    const seen: { method: string; url: string; type: string; body: string; socket: unknown }[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, type: req.headers['content-type']!, body: Buffer.concat(chunks).toString(), socket: req.socket });
        // The answer written in two pieces, the second later: the client must wait for all of it.
        res.writeHead(seen.length === 2 ? 400 : 200, { 'content-length': 14 });
        res.write('{"mtId":');
        setTimeout(() => res.end(seen.length === 2 ? '"bad"}' : `${seen.length}    }`.slice(0, 6)), 20);
      });
    });
    const port = await listen(server);
    const c = new RawConnection('127.0.0.1', port);
    const first = await c.request(request(port));
    const second = await c.request(request(port));
    c.close();
    expect([first.status, first.body.toString()]).toEqual([200, '{"mtId":1    }']);
    expect([second.status, second.body.toString()]).toEqual([400, '{"mtId":"bad"}']);
    expect(seen.map((s) => [s.method, s.url, s.type, s.body])).toEqual([
      ['POST', '/mms/v2/send', 'multipart/mixed; boundary=b', body.toString()],
      ['POST', '/mms/v2/send', 'multipart/mixed; boundary=b', body.toString()],
    ]);
    expect(seen[1]!.socket).toBe(seen[0]!.socket); // kept alive
  });

  it('opens a new connection after an answer with Connection: close', async () => {
    const sockets = new Set<unknown>();
    const server = createServer((req, res) => {
      sockets.add(req.socket);
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-length': 2, connection: 'close' });
        res.end('ok');
      });
    });
    const port = await listen(server);
    const c = new RawConnection('127.0.0.1', port);
    expect((await c.request(request(port))).body.toString()).toBe('ok');
    expect((await c.request(request(port))).body.toString()).toBe('ok');
    c.close();
    expect(sockets.size).toBe(2);
  });

  it('fails, never guesses, on an answer it cannot read: chunked, not HTTP, or a connection closed mid-answer', async () => {
    const answers = [
      'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n',
      'SMTP ready\r\n\r\n',
      'HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort',
    ];
    const server = createNetServer((s) => {
      s.once('data', () => {
        const a = answers.shift()!;
        if (a.includes('short')) s.end(a);
        else s.write(a);
      });
    });
    const port = await listen(server);
    for (const expected of [/without Content-Length/, /not an HTTP\/1\.1 answer/, /closed the connection/]) {
      const c = new RawConnection('127.0.0.1', port);
      await expect(c.request(request(port))).rejects.toThrow(expected);
      c.close();
    }
    // A connection refused is an error too (nothing listens on a port just closed).
    const closed = await listen(createNetServer());
    servers.pop()!.close();
    await new Promise((r) => setTimeout(r, 20));
    const c = new RawConnection('127.0.0.1', closed);
    await expect(c.request(request(closed))).rejects.toThrow();
  });
});
