/**
 * The request the benchmark sends: an OpenMarket HTTP MMS v2 MT submission (multipart/mixed, JSON control part with
 * Content-Id "main", then one text part), about 2 KB in all. A set of distinct bodies is built up front so the
 * load generator spends no time building them and the store sees distinct content (no blob de-duplication).
 */

/** Account and numbers used by every benchmark scenario. */
export const BENCH_ACCOUNT = { id: 'bench', password: 'pw' } as const;
export const BENCH_SOURCE = '88600';
export const BENCH_DESTINATION = '15551230001';

/** One prepared request. */
export interface PreparedBody {
  contentType: string;
  body: Buffer;
}

/** The Authorization header for the bench account. */
export function basicAuth(id: string = BENCH_ACCOUNT.id, password: string = BENCH_ACCOUNT.password): string {
  return `Basic ${Buffer.from(`${id}:${password}`).toString('base64')}`;
}

/** Build `count` distinct send bodies of about `targetBytes` each. */
export function buildSendBodies(count: number, targetBytes = 2048): PreparedBody[] {
  const out: PreparedBody[] = [];
  for (let i = 0; i < count; i++) {
    const boundary = `bench-boundary-${i.toString(36)}`;
    const control = JSON.stringify({
      type: 'MT',
      source: BENCH_SOURCE,
      destination: BENCH_DESTINATION,
      mtConfig: 'default',
      subject: `Benchmark message ${i}`,
    });
    const head =
      `--${boundary}\r\nContent-Type: application/json\r\nContent-Id: main\r\n\r\n${control}\r\n` +
      `--${boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Id: <text1>\r\n\r\n`;
    const tail = `\r\n--${boundary}--\r\n`;
    const seed = `Message ${i}: the quick brown fox jumps over the lazy dog. `;
    const textBytes = Math.max(16, targetBytes - Buffer.byteLength(head) - Buffer.byteLength(tail));
    const text = seed.repeat(Math.ceil(textBytes / seed.length)).slice(0, textBytes);
    out.push({ contentType: `multipart/mixed; boundary="${boundary}"`, body: Buffer.from(head + text + tail) });
  }
  return out;
}
