/**
 * Streaming multipart reader (RFC 2046 §5.1) with bounded memory: drives MultipartParser (multipart-parser.ts) from an
 * async source, a Node stream or a buffer, and stops pulling from the source the moment it throws, so the HTTP layer
 * can answer 413 without reading the rest of the upload.
 */
import type { Readable } from 'node:stream';
import { malformed, MultipartParser } from './multipart-parser.ts';
import type { MultipartOptions, ParsedPart } from './types.ts';

function toBuffer(chunk: Buffer | Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/**
 * Reads a multipart body from an async source (an HTTP request, a fetch body, an array of chunks), yielding each
 * part as soon as its closing delimiter has arrived. Chunks may split anywhere. Memory stays bounded by the limits in
 * opts; on any ApiError (limit, malformed framing, undecodable content) the source is released at once and no more
 * of it is read. Part bodies may share memory with the source's chunks.
 */
export async function* readMultipart(
  source: AsyncIterable<Buffer | Uint8Array>,
  opts: MultipartOptions,
): AsyncGenerator<ParsedPart> {
  const parser = new MultipartParser(opts);
  for await (const chunk of source) {
    const parts = parser.push(toBuffer(chunk));
    for (const part of parts) yield part;
  }
  for (const part of parser.end()) yield part;
}

/** Reads a whole multipart body into an array of parts; same limits and errors as readMultipart. */
export async function readAllParts(
  source: AsyncIterable<Buffer | Uint8Array>,
  opts: MultipartOptions,
): Promise<ParsedPart[]> {
  const parser = new MultipartParser(opts);
  const all: ParsedPart[] = [];
  for await (const chunk of source) {
    const parts = parser.push(toBuffer(chunk));
    for (const part of parts) all.push(part);
  }
  for (const part of parser.end()) all.push(part);
  return all;
}

/**
 * As readAllParts, straight from a Node stream's 'data' events (cheaper per request than an async iterator on the
 * accept hot path). On the first error the stream is paused and left: nothing more is read.
 *
 * After a success the listeners stay attached and ignore what comes after (`settled`) rather than being removed:
 * fewer steps per request, and a late 'error' from the stream still has a listener. They are inline arrows on purpose:
 * a named local function costs a `__name` call per request under tsx's keepNames.
 */
export function readAllPartsFromStream(stream: NodeJS.ReadableStream, opts: MultipartOptions): Promise<ParsedPart[]> {
  return new Promise((resolve, reject) => {
    // A stream destroyed before the read starts (its client went away while the request was being authenticated)
    // has emitted its 'error' and 'close' already: listeners added now would wait forever.
    const readable = stream as Readable;
    if (readable.destroyed) {
      reject(readable.errored ?? malformed('the connection closed before the body ended'));
      return;
    }
    let parser: MultipartParser;
    try {
      parser = new MultipartParser(opts);
    } catch (err) {
      reject(err);
      return;
    }
    const all: ParsedPart[] = [];
    const state = { settled: false };
    stream.on('data', (chunk: Buffer | string) => {
      if (state.settled) return;
      try {
        for (const part of parser.push(toBuffer(chunk as Buffer))) all.push(part);
      } catch (err) {
        abandon(state, stream, reject, err);
      }
    });
    stream.once('end', () => {
      if (state.settled) return;
      state.settled = true;
      try {
        for (const part of parser.end()) all.push(part);
        resolve(all);
      } catch (err) {
        reject(err);
      }
    });
    stream.on('error', (err: Error) => abandon(state, stream, reject, err));
    // A client that goes away mid-upload may close the stream without 'end' or 'error': never wait forever.
    // (Every request's stream closes at the end: build the error only when it means something.)
    stream.once('close', () => {
      if (!state.settled) abandon(state, stream, reject, malformed('the connection closed before the body ended'));
    });
  });
}

/** Fail the read once: stop reading the stream (the body is this reader's alone, so its 'data' listeners go) and reject. */
function abandon(state: { settled: boolean }, stream: NodeJS.ReadableStream, reject: (err: unknown) => void, err: unknown): void {
  if (state.settled) return;
  state.settled = true;
  stream.removeAllListeners('data');
  stream.pause();
  reject(err);
}

/** Parses a body held in memory (convenience for small bodies such as MM7 responses and tests). */
export function parseMultipartBuffer(body: Buffer, opts: MultipartOptions): ParsedPart[] {
  const parser = new MultipartParser(opts);
  const parts = parser.push(body);
  return parts.concat(parser.end());
}
