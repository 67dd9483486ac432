/**
 * Builders for store tests: messages, blobs and units with realistic content.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { freshPgDatabase } from '../support/postgres.ts';
import type { MoMessage, MtMessage, Part } from '../../src/core/message.ts';
import type { NewBlob } from '../../src/store/store.ts';

/** A blob keyed by the SHA-256 of its bytes. */
export function blobOf(bytes: Buffer): NewBlob {
  return { sha256: createHash('sha256').update(bytes).digest('hex'), bytes };
}

/** Every byte value, twice: catches any text or encoding mangling on the way through the database. */
export const BINARY = Buffer.from([...Array(512).keys()].map((i) => i % 256));

/** An accepted MT with the given parts. */
export function mtOf(mtId: number, parts: Part[], over: Partial<MtMessage> = {}): MtMessage {
  return {
    mtId,
    accountId: '000-000-100-12345',
    requestId: `req-${mtId}`,
    source: '12345',
    destination: '14255550100',
    mtConfig: 'default',
    subject: 'Hello',
    operatorId: 77,
    state: 'accepted',
    status: null,
    outcomeId: null,
    outcomeDescription: null,
    userAgent: null,
    operatorMessageId: null,
    createdAt: 1_700_000_000_000,
    updatedAt: 1_700_000_000_000,
    parts,
    ...over,
  };
}

/** A received MO. */
export function moOf(moId: number, parts: Part[]): MoMessage {
  return {
    moId,
    operatorId: 77,
    source: '14255550199',
    destinations: ['12345', '14255550111'],
    ccs: ['14255550122'],
    bccs: [],
    subject: null,
    userAgent: 'Handset/1.0',
    accountId: '000-000-100-12345',
    number: '12345',
    state: 'received',
    operatorMessageId: 'op-mo-1',
    receivedAt: 1_700_000_000_500,
    parts,
  };
}

/** An inline part pointing at a blob. */
export function partOf(blob: NewBlob, contentType: string, contentId: string): Part {
  return { contentType, contentId, sha256: blob.sha256, size: blob.bytes.length };
}

/**
 * The backends every store suite runs on: a fresh SQLite file under a temp dir (removed after the file's tests) and a
 * fresh PostgreSQL database. Call at the top level of a test file; use with `describe.each`.
 */
export function storeBackends(prefix: string): [string, () => Promise<string>][] {
  let tmp = '';
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), `${prefix}-`));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });
  return [
    ['sqlite', async () => `sqlite:${join(tmp, `s-${Math.random().toString(36).slice(2)}`, 'store.db')}`],
    // The same file store with its writes on the event loop instead of the writer thread.
    ['sqlite-inline', async () => `sqlite:${join(tmp, `s-${Math.random().toString(36).slice(2)}`, 'store.db')}?writerThread=false`],
    ['postgres', () => freshPgDatabase()],
  ];
}
