import { describe, expect, it } from 'vitest';
import { ContentRejectedError, toPipelineError } from '../../src/content/failures.ts';
import { ContentFetchError } from '../../src/content/guarded-fetch.ts';
import { OUTCOMES } from '../../src/core/outcomes.ts';
import { isPermanent, TemporaryError } from '../../src/core/retry-policy.ts';

describe('toPipelineError', () => {
  it('maps permanent fetch failures to a PermanentError with the matching outcome', () => {
    const cases = [
      ['address-refused', OUTCOMES.CONTENT_ADDRESS_REFUSED],
      ['unsupported-type', OUTCOMES.CONTENT_UNSUPPORTED],
      ['not-found', OUTCOMES.CONTENT_FETCH_FAILED],
      ['too-large', OUTCOMES.CONTENT_FETCH_FAILED],
    ] as const;
    for (const [reason, outcome] of cases) {
      const e = toPipelineError(new ContentFetchError(reason, 'x'));
      expect(isPermanent(e), reason).toBe(true);
      expect((e as ContentRejectedError).outcome).toBe(outcome);
    }
  });

  it('maps temporary failures to TemporaryError with Retry-After, and leaves other errors alone', () => {
    const e = toPipelineError(new ContentFetchError('http-error', '503', { status: 503, permanent: false, retryAfterMs: 7000 }));
    expect(e).toBeInstanceOf(TemporaryError);
    expect((e as TemporaryError).retryAfterMs).toBe(7000);
    expect(isPermanent(toPipelineError(new ContentFetchError('timeout', 't')))).toBe(false);
    const other = new Error('bug');
    expect(toPipelineError(other)).toBe(other);
  });
});
