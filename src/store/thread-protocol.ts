/**
 * Messages between the main thread (thread-store.ts) and the SQLite store thread (store-thread.ts). Pure helpers.
 *
 * Bytes: structured clone copies a Buffer's whole backing ArrayBuffer (a 2 KB part sliced from a pooled or larger
 * buffer would drag the rest along) and hands back a plain Uint8Array. So a write's blob and inbox bytes are copied
 * once into one ArrayBuffer that is transferred (moved, not copied), and the thread slices Buffers out of it.
 */
import type { NewBlob, WriteUnit } from './store.ts';

/** A call of a Store method. */
export interface ThreadRequest {
  id: number;
  method: string;
  args: unknown[];
}

/** An error as it crosses the thread boundary. */
export interface SerializedError {
  name: string;
  message: string;
  code?: string;
}

/** The answer to a ThreadRequest. */
export type ThreadReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: SerializedError };

/** A blob whose bytes travel in the batch buffer at [at, at + len). */
interface WireBlob {
  sha256: string;
  at: number;
  len: number;
}

/** Units with their byte fields replaced by offsets into `bytes`. */
export interface PackedUnits {
  units: WriteUnit[];
  bytes: ArrayBuffer | null;
}

type WireInbox = Omit<NonNullable<WriteUnit['inbox']>[number], 'body'> & { body: null; at: number; len: number };

/** Pack the byte fields of `units` into one ArrayBuffer (for transfer). The callers' objects are not changed. */
export function packUnits(units: readonly WriteUnit[]): { packed: PackedUnits; transfer: ArrayBuffer[] } {
  let total = 0;
  for (const u of units) {
    if (u.blobs) for (const b of u.blobs) total += b.bytes.length;
    if (u.inbox) for (const e of u.inbox) total += e.body.length;
  }
  if (total === 0) return { packed: { units: units as WriteUnit[], bytes: null }, transfer: [] };
  const bytes = new ArrayBuffer(total);
  const view = new Uint8Array(bytes);
  let at = 0;
  const put = (src: Uint8Array): { at: number; len: number } => {
    view.set(src, at);
    const r = { at, len: src.length };
    at += src.length;
    return r;
  };
  const out = units.map((u) => {
    if (!u.blobs && !u.inbox) return u;
    const copy: Record<string, unknown> = { ...u };
    if (u.blobs) copy.blobs = u.blobs.map((b): WireBlob => ({ sha256: b.sha256, ...put(b.bytes) }));
    if (u.inbox) copy.inbox = u.inbox.map((e): WireInbox => ({ ...e, body: null, ...put(e.body) }));
    return copy as WriteUnit;
  });
  return { packed: { units: out, bytes }, transfer: [bytes] };
}

/** Inverse of packUnits (on the store thread): Buffers that view the transferred ArrayBuffer. */
export function unpackUnits(p: PackedUnits): WriteUnit[] {
  const bytes = p.bytes;
  if (bytes === null) return p.units;
  return p.units.map((u) => {
    if (!u.blobs && !u.inbox) return u;
    const copy = { ...u };
    if (u.blobs) {
      copy.blobs = (u.blobs as unknown as WireBlob[]).map((b): NewBlob => ({ sha256: b.sha256, bytes: Buffer.from(bytes, b.at, b.len) }));
    }
    if (u.inbox) {
      copy.inbox = (u.inbox as unknown as WireInbox[]).map(({ at, len, ...e }) => ({ ...e, body: Buffer.from(bytes, at, len) }));
    }
    return copy;
  });
}

/** A Uint8Array that crossed the boundary, as a Buffer again (no copy). */
export function asBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/** Keep name, message and code (structured clone would keep less of a custom error). */
export function serializeError(err: unknown): SerializedError {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return { name: err.name, message: err.message, ...(typeof code === 'string' ? { code } : {}) };
  }
  return { name: 'Error', message: String(err) };
}

/** Rebuild an error on the main thread, with the same class for the built-in kinds callers test for. */
export function deserializeError(e: SerializedError): Error {
  const Ctor = e.name === 'TypeError' ? TypeError : e.name === 'RangeError' ? RangeError : Error;
  const err = new Ctor(e.message);
  if (Ctor === Error && e.name !== 'Error') err.name = e.name;
  if (e.code !== undefined) (err as Error & { code?: string }).code = e.code;
  return err;
}
