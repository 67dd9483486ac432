/**
 * Content preparation before submission: fetch remote parts (through the URL cache), add a SMIL presentation when
 * the operator wants one and the customer sent none, and adapt images to the operator's limits. Used by the submit
 * step and by the send API's dry run, so both show exactly what the operator would get.
 *
 * Errors follow the pipeline contract: a permanent content problem throws a PermanentError carrying an `outcome`
 * (ContentRejectedError: 22/23/24; AdaptError: 21); a temporary one throws TemporaryError.
 */
import { createHash } from 'node:crypto';
import type { Part } from '../core/message.ts';
import { PermanentError } from '../core/retry-policy.ts';
import { adaptForOperator, type AdaptChange } from '../content/adapt.ts';
import { ContentRejectedError, toPipelineError } from '../content/failures.ts';
import { ContentFetchError } from '../content/guarded-fetch.ts';
import { generateSmil } from '../content/smil.ts';
import type { RemoteContentCache } from '../content/url-cache.ts';
import type { PartWithBytes } from '../operators/connector.ts';
import type { NewBlob } from '../store/store.ts';

export interface ContentLimits {
  maxMessageBytes: number;
  maxImageWidth: number;
  maxImageHeight: number;
  /** Generate SMIL when the parts hold none. */
  generateSmil: boolean;
  /**
   * The remote content fetched for one message, all its parts together, at most (remoteContent.maxMessageBytes): each
   * remote part is bounded by remoteContent.maxBytes, but a message may name up to api.maxParts of them, all held in
   * memory at once while the message is prepared. (Inline parts are bounded by the request they came in, api.maxBodyBytes.)
   */
  maxFetchedBytes: number;
}

export interface PreparedContent {
  parts: PartWithBytes[];
  /** Blobs made by preparation (adapted images, generated SMIL) that must be stored with the submission. */
  blobs: NewBlob[];
  /** For the event log. */
  fetched: { contentId: string; url: string; source: string; contentType: string; size: number }[];
  changes: AdaptChange[];
  smilGenerated: boolean;
}

export interface PrepareDeps {
  cache: RemoteContentCache | undefined;
  bytesOf(sha256: string): Promise<Buffer | undefined>;
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

export async function prepareContent(input: readonly Part[], limits: ContentLimits, deps: PrepareDeps): Promise<PreparedContent> {
  const fetched: PreparedContent['fetched'] = [];
  // `sha256` is known for stored parts; fetched, generated and adapted bytes are new blobs.
  const withBytes: { contentType: string; contentId: string; bytes: Buffer; sha256?: string }[] = [];
  let fetchedBytes = 0;
  for (const part of input) {
    if (part.remoteUrl && !part.sha256) {
      if (!deps.cache) throw new PermanentError('remote content is not enabled');
      try {
        const r = await deps.cache.get(part.remoteUrl);
        fetched.push({ contentId: part.contentId, url: part.remoteUrl, source: r.source, contentType: r.contentType, size: r.size });
        withBytes.push({ contentType: r.contentType, contentId: part.contentId, bytes: r.bytes });
      } catch (err) {
        throw toPipelineError(err);
      }
      fetchedBytes += withBytes[withBytes.length - 1]!.bytes.length;
      // Checked as each part arrives, so at most one remote body (remoteContent.maxBytes) past the budget is held.
      if (fetchedBytes > limits.maxFetchedBytes) {
        throw new ContentRejectedError(
          new ContentFetchError('too-large', `the message's remote content exceeds ${limits.maxFetchedBytes} bytes (remoteContent.maxMessageBytes)`),
        );
      }
      continue;
    }
    const bytes = part.sha256 ? await deps.bytesOf(part.sha256) : undefined;
    if (!bytes) throw new PermanentError(`content of part ${part.contentId} is missing`);
    withBytes.push({ contentType: part.contentType, contentId: part.contentId, bytes, sha256: part.sha256 });
  }
  let smilGenerated = false;
  if (limits.generateSmil) {
    const smil = generateSmil(withBytes);
    if (smil !== null) {
      withBytes.unshift({ contentType: 'application/smil', contentId: 'smil', bytes: Buffer.from(smil, 'utf8') });
      smilGenerated = true;
    }
  }
  const { parts: adapted, changes } = await adaptForOperator(withBytes, limits);
  const stored = new Map(withBytes.filter((p) => p.sha256).map((p) => [p.contentId, p]));
  const blobs: NewBlob[] = [];
  const parts: PartWithBytes[] = adapted.map((p) => {
    const same = stored.get(p.contentId);
    let hash: string;
    if (same && same.bytes === p.bytes) hash = same.sha256!;
    else {
      hash = sha(p.bytes);
      blobs.push({ sha256: hash, bytes: p.bytes });
    }
    return { part: { contentType: p.contentType, contentId: p.contentId, sha256: hash, size: p.bytes.length }, bytes: p.bytes };
  });
  return { parts, blobs, fetched, changes, smilGenerated };
}
