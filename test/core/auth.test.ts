import { describe, expect, it } from 'vitest';
import { Authenticator, parseBasicAuth } from '../../src/api/auth.ts';
import { hashSecret, verifySecret } from '../../src/core/secrets.ts';

const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

describe('Basic authentication', () => {
  const acc = { id: 'Aladdin', passwordHash: hashSecret('open sesame') };
  it('accepts the seed example header and is case-sensitive on the account id', async () => {
    const auth = new Authenticator([acc], 60_000);
    await expect(auth.authenticate('Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==')).resolves.toBe(acc);
    await expect(auth.authenticate(basic('aladdin', 'open sesame'))).rejects.toMatchObject({ code: 'AUTH_INVALID' });
    await expect(auth.authenticate(basic('Aladdin', 'Open sesame'))).rejects.toMatchObject({ code: 'AUTH_INVALID' });
    await expect(auth.authenticate(undefined)).rejects.toMatchObject({ code: 'AUTH_REQUIRED' });
    await expect(auth.authenticate('Bearer x')).rejects.toMatchObject({ code: 'AUTH_REQUIRED' });
  });
  it('stores only scrypt hashes and caches a verified password (no key derivation on the next request)', async () => {
    expect(acc.passwordHash).toMatch(/^scrypt\$/);
    expect(acc.passwordHash).not.toContain('open sesame');
    let now = 0;
    const auth = new Authenticator([acc], 1000, () => now);
    await auth.authenticate(basic('Aladdin', 'open sesame'));
    const t0 = performance.now();
    for (let i = 0; i < 200; i++) await auth.authenticate(basic('Aladdin', 'open sesame'));
    const cachedMs = performance.now() - t0;
    const t1 = performance.now();
    await verifySecret('open sesame', acc.passwordHash);
    const oneDerivationMs = performance.now() - t1;
    // 200 cached checks cost less than a single scrypt derivation.
    expect(cachedMs).toBeLessThan(oneDerivationMs);
    now = 5000; // expired: a wrong password is still refused after expiry
    await expect(auth.authenticate(basic('Aladdin', 'nope'))).rejects.toMatchObject({ code: 'AUTH_INVALID' });
  });
  it('answers from the cache only for the very credential verified, within its lifetime', async () => {
    let now = 0;
    const auth = new Authenticator([acc], 1000, () => now);
    const good = basic('Aladdin', 'open sesame');
    expect(auth.cached(good)).toBeUndefined(); // not verified yet
    await expect(auth.authenticate(basic('Aladdin', 'wrong'))).rejects.toMatchObject({ code: 'AUTH_INVALID' });
    expect(auth.cached(basic('Aladdin', 'wrong'))).toBeUndefined(); // a refused password is never cached
    await auth.authenticate(good);
    expect(auth.cached(good)).toBe(acc);
    expect(auth.cached(good.replace('Basic', 'basic'))).toBe(acc); // another spelling of the same credential
    expect(auth.cached(basic('Aladdin', 'open sesame!'))).toBeUndefined(); // another credential
    expect(auth.cached(undefined)).toBeUndefined();
    now = 1000; // expired
    expect(auth.cached(good)).toBeUndefined();
  });
  it('runs one key derivation for concurrent requests with the same header, right or wrong', async () => {
    let derivations = 0;
    const counting = async (plain: string, stored: string) => {
      derivations++;
      return verifySecret(plain, stored);
    };
    const auth = new Authenticator([acc], 60_000, Date.now, counting);
    const good = basic('Aladdin', 'open sesame');
    const accounts = await Promise.all(Array.from({ length: 32 }, () => auth.authenticate(good)));
    expect(accounts.every((a) => a === acc)).toBe(true);
    expect(derivations).toBe(1);
    const bad = basic('Aladdin', 'wrong');
    const refusals = await Promise.allSettled(Array.from({ length: 8 }, () => auth.authenticate(bad)));
    expect(refusals.map((r) => r.status)).toEqual(Array(8).fill('rejected'));
    expect(derivations).toBe(2);
    // A refused header is remembered: the next attempt is refused without deriving again.
    await expect(auth.authenticate(bad)).rejects.toMatchObject({ code: 'AUTH_INVALID' });
    expect(derivations).toBe(2);
  });
  it('parses user:pass with colons in the password', () => {
    expect(parseBasicAuth(basic('a', 'b:c'))).toEqual({ user: 'a', pass: 'b:c' });
  });
});
