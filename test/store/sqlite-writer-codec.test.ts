/**
 * The form in which write batches cross to the SQLite writer thread: whatever goes in comes out equal on the other
 * side of a real MessagePort, and the rows of an accepted MT travel as flat arrays.
 */
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { decodeUnits, encodeUnits } from '../../src/store/sqlite-writer-codec.ts';
import type { WriteUnit } from '../../src/store/store.ts';
import { BINARY, blobOf, moOf, mtOf, partOf } from './fixtures.ts';

/** Through a real MessagePort, as between the event loop and the writer thread. */
function acrossThreads<T>(value: T): T {
  const { port1, port2 } = new MessageChannel();
  try {
    port1.postMessage(value);
    return receiveMessageOnPort(port2)!.message as T;
  } finally {
    port1.close();
  }
}

const T0 = 1_800_000_000_000;
const blob = blobOf(BINARY);
const text = blobOf(Buffer.from('Hello ✓', 'utf8'));

/** What the send route commits for one accepted MT (routes/send.ts). */
const acceptUnit: WriteUnit = {
  blobs: [blob, text],
  mts: [
    mtOf(100_000_000_000_001, [
      partOf(blob, 'image/png', 'img1'),
      partOf(text, 'text/plain; charset=utf-8', 'text1'),
      { contentType: 'application/vnd.openmarket.remoteContent', contentId: 'remote1', size: 0, remoteUrl: 'https://example.com/a.jpg' },
    ]),
  ],
  events: [{ mtId: 100_000_000_000_001, at: T0, type: 'accepted', node: 'n1', detail: { requestId: 'r1', parts: 3, nested: { a: [1, null] } } }],
  jobs: [{ kind: 'submit', refId: 100_000_000_000_001 }],
  idempotency: { accountId: 'acct', key: 'k1', requestHash: 'h', mtId: 100_000_000_000_001, expiresAt: T0 + 1 },
};

/** Every other key a unit can have (pipeline steps, MO intake, the sandbox). */
const otherUnit: WriteUnit = {
  job: { jobId: 7, owner: 'w1', outcome: 'retry', runAt: T0 + 5, error: 'busy' },
  claimParked: [11, 3],
  mos: [moOf(200_000_000_000_001, [partOf(blob, 'image/png', 'p')])],
  mtPatches: [{ mtId: 1, state: 'delivered', status: 'Delivered', outcomeId: null }],
  moStates: [{ moId: 200_000_000_000_001, state: 'delivered' }],
  events: [
    { moId: 200_000_000_000_001, at: T0, type: 'received', node: 'n1', detail: {} },
    { mtId: 1, at: T0 + 1, type: 'delivered', node: 'n2', detail: { status: 'Delivered' } },
  ],
  jobs: [{ kind: 'report', refId: 1, orderKey: 'mt:1', payload: { attempt: 2 }, runAt: T0 + 9 }],
  handsetMessages: [{ number: '15551230001', mtId: 1, source: '88600', subject: null, receivedAt: T0, parts: [] }],
  inbox: [{ box: 'reports', receivedAt: T0, headers: { 'content-type': 'application/json' }, contentType: 'application/json', body: Buffer.from('{"a":1}') }],
};

describe('write batches to the SQLite writer thread', () => {
  it('arrive equal to what was sent, for every kind of row, with bytes as Buffers', () => {
    const units = [acceptUnit, otherUnit, {}];
    const decoded = decodeUnits(acrossThreads(encodeUnits(units)));
    expect(decoded).toEqual(units);
    expect(Buffer.isBuffer(decoded[0]!.blobs![0]!.bytes)).toBe(true);
    expect(decoded[0]!.blobs![0]!.bytes.equals(BINARY)).toBe(true);
    expect(Buffer.isBuffer(decoded[1]!.inbox![0]!.body)).toBe(true);
    // An absent optional field stays absent (the writer tells "no sha256" from "sha256: undefined" by presence).
    expect(Object.keys(decoded[0]!.mts![0]!.parts[2]!)).not.toContain('sha256');
    expect(Object.keys(decoded[0]!.jobs![0]!)).toEqual(['kind', 'refId']);
  });

  it('carry the rows of an accepted MT as flat arrays, not as objects', () => {
    const [encoded] = encodeUnits([{ ...acceptUnit, idempotency: undefined }]);
    const [rest, ...rows] = encoded!;
    expect(rest).toBe(0);
    for (const r of rows) expect(Array.isArray(r)).toBe(true);
    // Scalars and byte arrays; the one object left is the event's free-form detail.
    const objects = rows.flatMap((r) => (r as unknown[]).filter((v) => typeof v === 'object' && v !== null && !(v instanceof Uint8Array)));
    expect(objects).toEqual([acceptUnit.events![0]!.detail]);
  });
});
