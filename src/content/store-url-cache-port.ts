/**
 * The URL cache's persistence on the Store: rows in the url cache table, bodies in the shared content-addressed blob
 * store, so the cache survives restarts and every node sees every other node's fetches.
 */
import type { Store, WriteResult, WriteUnit } from '../store/store.ts';
import type { CachedUrl, UrlCachePort } from './url-cache.ts';

export class StoreUrlCachePort implements UrlCachePort {
  constructor(
    private readonly store: Store,
    private readonly commit: (unit: WriteUnit) => Promise<WriteResult>,
  ) {}

  async get(url: string): Promise<CachedUrl | undefined> {
    const row = await this.store.getCachedUrl(url);
    if (!row) return undefined;
    return {
      url: row.url,
      sha256: row.sha256,
      contentType: row.contentType,
      size: row.size,
      etag: row.etag ?? undefined,
      lastModified: row.lastModified ?? undefined,
      fetchedAt: row.fetchedAt,
      freshUntil: row.freshUntil,
    };
  }

  async put(e: CachedUrl): Promise<void> {
    await this.store.putCachedUrl({
      url: e.url,
      sha256: e.sha256,
      contentType: e.contentType,
      size: e.size,
      etag: e.etag ?? null,
      lastModified: e.lastModified ?? null,
      fetchedAt: e.fetchedAt,
      freshUntil: e.freshUntil,
    });
  }

  getBlob(sha256: string): Promise<Buffer | undefined> {
    return this.store.getBlob(sha256);
  }

  async putBlob(sha256: string, bytes: Buffer): Promise<void> {
    await this.commit({ blobs: [{ sha256, bytes }] });
  }
}
