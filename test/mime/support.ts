/**
 * Helpers for the MIME tests: the OpenMarket documentation examples as printed, chunked sources, default options.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DEFAULT_MULTIPART_LIMITS, type MultipartLimits, type MultipartOptions } from '../../src/mime/types.ts';

/**
 * The OpenMarket "Things to Know" document, when this checkout has it beside the repository (../shared/seed);
 * undefined elsewhere. The fixtures below are checked against it when it is there.
 */
const seedCandidate = fileURLToPath(new URL('../../../shared/seed/openmarket-http-mms-things-to-know.txt', import.meta.url));
export const SEED_PATH: string | undefined = existsSync(seedCandidate) ? seedCandidate : undefined;

/** The MT and MO example bodies exactly as printed in the documentation (kept in test/mime/fixtures). */
export function exampleBody(which: 'mt' | 'mo'): Buffer {
  return readFileSync(new URL(`./fixtures/openmarket-${which}-example.txt`, import.meta.url));
}

/**
 * The multipart body of an HTTP example in the seed document, exactly as printed: the lines from the first
 * "--mimeboundary" after `marker` to the end of the indented block, with only the document's 4-space list indentation
 * removed. No-break spaces, missing blank lines and the missing close delimiter are kept as they are.
 */
export function seedBody(seedPath: string, marker: string): Buffer {
  const text = readFileSync(seedPath, 'utf8');
  const at = text.indexOf(marker);
  if (at < 0) throw new Error(`marker not found in seed: ${marker}`);
  const lines = text.slice(at).split('\n');
  const start = lines.findIndex((l) => l.startsWith('    --mimeboundary'));
  const out: string[] = [];
  for (let i = start; i < lines.length && lines[i]!.startsWith('    '); i++) out.push(lines[i]!.slice(4));
  return Buffer.from(out.join('\n') + '\n', 'utf8');
}

/** Options with the default limits, overridable. */
export function options(boundary: string, lenient: boolean, limits: Partial<MultipartLimits> = {}): MultipartOptions {
  return { boundary, lenient, limits: { ...DEFAULT_MULTIPART_LIMITS, ...limits } };
}

/** An async source yielding the given chunks. */
export async function* chunksOf(...chunks: Buffer[]): AsyncGenerator<Buffer> {
  for (const c of chunks) yield c;
}

/** An async source yielding `body` in pieces of `size` bytes. */
export async function* pieces(body: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < body.length; i += size) yield body.subarray(i, i + size);
}

/**
 * A send written by Python's email package (fixtures/python-emailmessage-content-ids.txt; encoded-words.test.ts says
 * what it holds): the Content-Type of its top-level headers and the multipart body after them.
 */
export function pythonContentIdsRequest(): { contentType: string; body: Buffer } {
  const raw = readFileSync(new URL('./fixtures/python-emailmessage-content-ids.txt', import.meta.url));
  const split = raw.indexOf('\r\n\r\n');
  const contentType = /^content-type:(.*)$/im.exec(raw.subarray(0, split).toString('latin1'))![1]!.trim();
  return { contentType, body: raw.subarray(split + 4) };
}
