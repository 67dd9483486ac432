/**
 * Authentication under abuse: one account cannot flush the cache of verified credentials by spelling its header
 * differently.
 */
import { describe, expect, it } from 'vitest';
import { Authenticator } from '../../src/api/auth.ts';
import { basic } from '../support/gateway.ts';

const acme = { id: 'acme', passwordHash: 'hash-acme' };
const globex = { id: 'globex', passwordHash: 'hash-globex' };
const initech = { id: 'initech', passwordHash: 'hash-initech' };
const umbrella = { id: 'umbrella', passwordHash: 'hash-umbrella' };
// acme's credential is 13 bytes, so its base64 ends in padding (for the spellings below).
const RIGHT = { 'hash-acme': 'pw-acme!', 'hash-globex': 'pw-globex', 'hash-initech': 'pw-initech', 'hash-umbrella': 'pw-umbrella' };

describe('the cache of verified credentials', () => {
  it('holds one entry per credential however the header is spelled', async () => {
    let derivations = 0;
    const verify = async (plain: string, stored: string) => (derivations++, RIGHT[stored as keyof typeof RIGHT] === plain);
    const auth = new Authenticator([acme, globex], 60_000, Date.now, verify, { maxVerified: 2 });
    const good = basic('acme', 'pw-acme!');
    const b64 = good.slice('Basic '.length);
    await auth.authenticate(good);
    await auth.authenticate(basic('globex', 'pw-globex'));
    const spellings = [
      good.replace('Basic', 'basic'),
      good.replace('Basic', 'BASIC'),
      `Basic    ${b64}`,
      `  Basic ${b64}  `,
      `Basic ${b64.replace(/=+$/, '')}`, // padding left out
      `Basic ${b64}AA`, // trailing characters the decoder ignores
      `Basic ${b64}.`,
    ];
    for (const h of spellings) {
      expect(auth.cached(h), h).toBe(acme);
      await expect(auth.authenticate(h)).resolves.toBe(acme);
    }
    expect(derivations).toBe(2);
    // All those spellings were one entry: the other account's is still there.
    expect(auth.cached(basic('globex', 'pw-globex'))).toBe(globex);
  });

  it('drops the least recently used credential when full, not every credential', async () => {
    let derivations = 0;
    const verify = async (plain: string, stored: string) => (derivations++, RIGHT[stored as keyof typeof RIGHT] === plain);
    const auth = new Authenticator([acme, globex, initech, umbrella], 60_000, Date.now, verify, { maxVerified: 3 });
    await auth.authenticate(basic('acme', 'pw-acme!'));
    await auth.authenticate(basic('globex', 'pw-globex'));
    await auth.authenticate(basic('initech', 'pw-initech'));
    await auth.authenticate(basic('acme', 'pw-acme!')); // acme used again: globex is now the least recent
    await auth.authenticate(basic('umbrella', 'pw-umbrella'));
    expect(derivations).toBe(4);
    expect(auth.cached(basic('acme', 'pw-acme!'))).toBe(acme);
    expect(auth.cached(basic('initech', 'pw-initech'))).toBe(initech);
    expect(auth.cached(basic('umbrella', 'pw-umbrella'))).toBe(umbrella);
    expect(auth.cached(basic('globex', 'pw-globex'))).toBeUndefined();
  });
});
