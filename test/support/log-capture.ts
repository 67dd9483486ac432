/**
 * A pino logger whose JSON lines a test can read back: for asserting what the gateway logged (request ids, levels).
 */
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';

export function captureLogs(level: pino.LevelWithSilent = 'info'): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level }, sink), lines };
}
