/**
 * How write batches cross to the SQLite writer thread (sqlite-writer-thread.ts -> sqlite-writer-worker.ts).
 *
 * postMessage copies with the structured clone algorithm, which writes every property name of every object and makes
 * the receiving thread rebuild each object key by key. For the rows of an accepted MT (message, part, event, job,
 * blob) that was ~6 us per unit across the two threads; the same values as flat positional arrays cost ~1.5 us
 * (measured with bench/cpu-per-request.ts and a postMessage micro-benchmark). So the hot row kinds travel as one flat
 * array each, in the field order below, and are rebuilt into the same objects on the thread; everything else in a
 * unit (job resolutions, patches, MOs, ...) is rare and travels as it is.
 *
 * The field lists are checked against the types at compile time (a field added to a row type without being added here
 * fails `tsc`), and test/store/sqlite-writer-codec.test.ts round-trips every unit shape.
 */
import type { MtMessage, Part } from '../core/message.ts';
import type { NewBlob, NewJob, WriteUnit } from './store.ts';

type MtEvent = Extract<NonNullable<WriteUnit['events']>[number], { mtId: number }>;
type MoEvent = Extract<NonNullable<WriteUnit['events']>[number], { moId: number }>;

/**
 * A field list of T, checked at compile time to name every key of T: a key left out makes the argument's type
 * demand a `missing` property naming it.
 */
function fieldsOf<T>() {
  return <const L extends readonly (keyof T)[]>(list: L & ([Exclude<keyof T, L[number]>] extends [never] ? unknown : { missing: Exclude<keyof T, L[number]> })): L => list;
}

const MT_FIELDS = fieldsOf<Omit<MtMessage, 'parts'>>()([
  'mtId', 'accountId', 'requestId', 'source', 'destination', 'mtConfig', 'subject', 'operatorId', 'state', 'status',
  'outcomeId', 'outcomeDescription', 'userAgent', 'operatorMessageId', 'createdAt', 'updatedAt',
]);
const PART_FIELDS = fieldsOf<Part>()(['contentType', 'contentId', 'sha256', 'size', 'remoteUrl']);
const MT_EVENT_FIELDS = fieldsOf<MtEvent>()(['mtId', 'at', 'type', 'node', 'detail']);
const MO_EVENT_FIELDS = fieldsOf<MoEvent>()(['moId', 'at', 'type', 'node', 'detail']);
const JOB_FIELDS = fieldsOf<NewJob>()(['kind', 'refId', 'orderKey', 'payload', 'runAt']);
const BLOB_FIELDS = fieldsOf<NewBlob>()(['sha256', 'bytes']);

/** The unit's other keys (0 when it has none), then blobs, MTs, events, jobs as flat arrays (0 when absent). */
export type EncodedUnit = [rest: Partial<WriteUnit> | 0, blobs: unknown[] | 0, mts: unknown[] | 0, events: unknown[] | 0, jobs: unknown[] | 0];

const HOT = new Set<string>(['blobs', 'mts', 'events', 'jobs']);

/** Main thread: a batch in the form that crosses to the writer thread. */
export function encodeUnits(units: readonly WriteUnit[]): EncodedUnit[] {
  const out: EncodedUnit[] = new Array(units.length);
  for (let i = 0; i < units.length; i++) {
    const u = units[i]!;
    out[i] = [restOf(u), u.blobs ? flat(u.blobs, BLOB_FIELDS) : 0, u.mts ? flatMts(u.mts) : 0, u.events ? flatEvents(u.events) : 0, u.jobs ? flat(u.jobs, JOB_FIELDS) : 0];
  }
  return out;
}

/**
 * Writer thread: the units again, equal to what was encoded (an absent optional field stays absent). Blob bytes arrive
 * as Uint8Array (structured clone drops the Buffer prototype) and are made Buffers again, without copying.
 */
export function decodeUnits(encoded: readonly EncodedUnit[]): WriteUnit[] {
  const out: WriteUnit[] = new Array(encoded.length);
  for (let i = 0; i < encoded.length; i++) {
    const [rest, blobs, mts, events, jobs] = encoded[i]!;
    const u: WriteUnit = rest === 0 ? {} : rest;
    if (blobs !== 0) u.blobs = rows<NewBlob>(blobs, BLOB_FIELDS).map((b) => ({ sha256: b.sha256, bytes: asBuffer(b.bytes) }));
    if (mts !== 0) u.mts = unflatMts(mts);
    if (events !== 0) u.events = unflatEvents(events);
    if (jobs !== 0) u.jobs = rows<NewJob>(jobs, JOB_FIELDS);
    if (u.inbox) for (const e of u.inbox) e.body = asBuffer(e.body);
    out[i] = u;
  }
  return out;
}

function restOf(u: WriteUnit): Partial<WriteUnit> | 0 {
  let rest: Record<string, unknown> | 0 = 0;
  for (const k in u) {
    if (HOT.has(k)) continue;
    const v = (u as Record<string, unknown>)[k];
    if (v === undefined) continue;
    (rest ||= {})[k] = v;
  }
  return rest;
}

function flat<T>(items: readonly T[], fields: readonly (keyof T)[]): unknown[] {
  const out: unknown[] = [items.length];
  for (const it of items) for (const f of fields) out.push(it[f]);
  return out;
}

/** Rows back from a flat array written by `flat`: the count, then the fields of each row. */
function rows<T>(a: readonly unknown[], fields: readonly (keyof T)[], at = { i: 0 }): T[] {
  const n = a[at.i++] as number;
  const out: T[] = new Array(n);
  for (let r = 0; r < n; r++) out[r] = row<T>(a, fields, at);
  return out;
}

function row<T>(a: readonly unknown[], fields: readonly (keyof T)[], at: { i: number }): T {
  const o: Record<string, unknown> = {};
  for (const f of fields) {
    const v = a[at.i++];
    if (v !== undefined) o[f as string] = v;
  }
  return o as T;
}

function flatMts(mts: readonly MtMessage[]): unknown[] {
  const out: unknown[] = [mts.length];
  for (const m of mts) {
    for (const f of MT_FIELDS) out.push(m[f]);
    out.push(m.parts.length);
    for (const p of m.parts) for (const f of PART_FIELDS) out.push(p[f]);
  }
  return out;
}

function unflatMts(a: readonly unknown[]): MtMessage[] {
  const at = { i: 0 };
  const n = a[at.i++] as number;
  const out: MtMessage[] = new Array(n);
  for (let r = 0; r < n; r++) {
    const m = row<MtMessage>(a, MT_FIELDS, at);
    m.parts = rows<Part>(a, PART_FIELDS, at);
    out[r] = m;
  }
  return out;
}

/** Events of MTs and MOs, each prefixed with 0 (MT) or 1 (MO). */
function flatEvents(events: NonNullable<WriteUnit['events']>): unknown[] {
  const out: unknown[] = [events.length];
  for (const e of events) {
    if ('mtId' in e) {
      out.push(0);
      for (const f of MT_EVENT_FIELDS) out.push(e[f]);
    } else {
      out.push(1);
      for (const f of MO_EVENT_FIELDS) out.push(e[f]);
    }
  }
  return out;
}

function unflatEvents(a: readonly unknown[]): NonNullable<WriteUnit['events']> {
  const at = { i: 0 };
  const n = a[at.i++] as number;
  const out: NonNullable<WriteUnit['events']> = new Array(n);
  for (let r = 0; r < n; r++) out[r] = a[at.i++] === 0 ? row<MtEvent>(a, MT_EVENT_FIELDS, at) : row<MoEvent>(a, MO_EVENT_FIELDS, at);
  return out;
}

function asBuffer(v: Uint8Array): Buffer {
  return Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}
