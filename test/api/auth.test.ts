/**
 * Authentication under abuse: wrong passwords cannot take over the key-derivation threads (bounded, refused with a
 * retryable 429 beyond the bound, a repeated guess answered from memory), and one account cannot flush the cache of
 * verified credentials by spelling its header differently.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Authenticator } from '../../src/api/auth.ts';
import { DerivationGate, passwordChecks } from '../../src/core/secrets.ts';
import { ACCOUNT, AUTH, basic, send, simpleMt, startTestGateway, status, type TestGateway } from '../support/gateway.ts';

/** A stand-in for scrypt that holds every derivation until released, and counts them. */
function heldVerifier(rightPasswords: Record<string, string>) {
  const held: (() => void)[] = [];
  const v = {
    started: 0,
    running: 0,
    mostAtOnce: 0,
    verify: (plain: string, stored: string): Promise<boolean> => {
      v.started++;
      v.running++;
      v.mostAtOnce = Math.max(v.mostAtOnce, v.running);
      return new Promise((resolve) =>
        held.push(() => {
          v.running--;
          resolve(rightPasswords[stored] === plain);
        }),
      );
    },
    /** Lets every held derivation finish (and those they admit), until none is left. */
    async releaseAll(): Promise<void> {
      for (;;) {
        await new Promise((r) => setImmediate(r));
        if (held.length === 0) return;
        for (const done of held.splice(0)) done();
      }
    },
  };
  return v;
}

/** What a promise settles with, rejection or value; handled at once, so a rejection waiting to be checked is not reported as unhandled. */
function settle<T>(p: Promise<T>): Promise<unknown> {
  return p.then((v) => v, (e: unknown) => e);
}

const acme = { id: 'acme', passwordHash: 'hash-acme' };
const globex = { id: 'globex', passwordHash: 'hash-globex' };
const initech = { id: 'initech', passwordHash: 'hash-initech' };
const umbrella = { id: 'umbrella', passwordHash: 'hash-umbrella' };
// acme's credential is 13 bytes, so its base64 ends in padding (for the spellings below).
const RIGHT = { 'hash-acme': 'pw-acme!', 'hash-globex': 'pw-globex', 'hash-initech': 'pw-initech', 'hash-umbrella': 'pw-umbrella' };

describe('key derivations are bounded', () => {
  it('runs at most the gate\'s derivations at once, queues a few, and refuses the rest with a retryable 429 without deriving', async () => {
    const v = heldVerifier(RIGHT);
    const auth = new Authenticator([acme], 60_000, Date.now, v.verify, { gate: new DerivationGate(2, 5) });
    const guesses = Array.from({ length: 50 }, (_, i) => auth.authenticate(basic('acme', `guess-${i}`)));
    const settled = Promise.allSettled(guesses);
    await new Promise((r) => setImmediate(r));
    expect(v.started).toBe(2); // the rest wait or were refused, none started
    await v.releaseAll();
    const results = await settled;
    const codes = results.map((r) => (r.status === 'rejected' ? (r.reason as { code: string }).code : 'accepted'));
    expect(codes.filter((c) => c === 'AUTH_INVALID')).toHaveLength(7); // 2 running + 5 waiting
    expect(codes.filter((c) => c === 'RATE_LIMITED')).toHaveLength(43);
    expect(results.find((r) => r.status === 'rejected' && r.reason.code === 'RATE_LIMITED')).toMatchObject({
      reason: { status: 429, retryable: true, details: { retryAfter: 1 } },
    });
    expect(v.started).toBe(7);
    expect(v.mostAtOnce).toBe(2);
    // Once the flood has drained, a first login goes through.
    const login = auth.authenticate(basic('acme', 'pw-acme!'));
    await v.releaseAll();
    await expect(login).resolves.toBe(acme);
  });

  it('an unknown account takes a slot like a real one (same work, same refusal when full)', async () => {
    const v = heldVerifier(RIGHT);
    const auth = new Authenticator([acme], 60_000, Date.now, v.verify, { gate: new DerivationGate(1, 0) });
    const first = settle(auth.authenticate(basic('nobody', 'x')));
    await expect(auth.authenticate(basic('acme', 'y'))).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    await v.releaseAll();
    expect(await first).toMatchObject({ code: 'AUTH_INVALID' });
    expect(v.started).toBe(1);
    const second = settle(auth.authenticate(basic('acme', 'y')));
    await expect(auth.authenticate(basic('nobody', 'z'))).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    await v.releaseAll();
    expect(await second).toMatchObject({ code: 'AUTH_INVALID' });
  });

  it('a verified client keeps working while the derivations are full', async () => {
    const v = heldVerifier(RIGHT);
    const auth = new Authenticator([acme, globex], 60_000, Date.now, v.verify, { gate: new DerivationGate(1, 1) });
    const login = auth.authenticate(basic('acme', 'pw-acme!'));
    await v.releaseAll();
    await login;
    const flood = Promise.allSettled(Array.from({ length: 10 }, (_, i) => auth.authenticate(basic('globex', `guess-${i}`))));
    await expect(auth.authenticate(basic('acme', 'pw-acme!'))).resolves.toBe(acme);
    expect(auth.cached(basic('acme', 'pw-acme!'))).toBe(acme);
    await v.releaseAll();
    await flood;
  });
});

describe('refused credentials are remembered', () => {
  it('answers the same wrong header again with 401 from memory, for any spelling, until the memory expires', async () => {
    let now = 0;
    const v = heldVerifier(RIGHT);
    const auth = new Authenticator([acme], 60_000, () => now, v.verify, { gate: new DerivationGate(2, 5), failureTtlMs: 60_000 });
    const wrong = basic('acme', 'wrong');
    const refuse = async (header: string) => {
      const p = settle(auth.authenticate(header));
      await v.releaseAll();
      expect(await p).toMatchObject({ code: 'AUTH_INVALID', status: 401 });
    };
    await refuse(wrong);
    expect(v.started).toBe(1);
    for (let i = 0; i < 20; i++) await refuse(wrong);
    await refuse(wrong.replace('Basic', 'basic'));
    await refuse(`${wrong}  `);
    expect(v.started).toBe(1);
    // An unknown account is remembered the same way (a repeat costs the same for both).
    await refuse(basic('nobody', 'wrong'));
    await refuse(basic('nobody', 'wrong'));
    expect(v.started).toBe(2);
    now = 60_000; // forgotten: derived again, and still refused
    await refuse(wrong);
    expect(v.started).toBe(3);
    // The right password is not affected by the wrong one's memory.
    const ok = auth.authenticate(basic('acme', 'pw-acme!'));
    await v.releaseAll();
    await expect(ok).resolves.toBe(acme);
  });

  it('keeps a bounded number of refusals, the most recently used', async () => {
    const v = heldVerifier(RIGHT);
    const auth = new Authenticator([acme], 60_000, Date.now, v.verify, { gate: new DerivationGate(2, 5), maxRefused: 2 });
    const refuse = async (pass: string) => {
      const p = settle(auth.authenticate(basic('acme', pass)));
      await v.releaseAll();
      expect(await p).toMatchObject({ code: 'AUTH_INVALID' });
    };
    await refuse('a');
    await refuse('b');
    await refuse('a'); // from memory, and now the most recent
    await refuse('c'); // evicts b
    expect(v.started).toBe(3);
    await refuse('a');
    expect(v.started).toBe(3);
    await refuse('b');
    expect(v.started).toBe(4);
  });
});

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

describe('over HTTP', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway();
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it('a new credential gets 429 with Retry-After while the password checks are full; a verified one still gets through', async () => {
    expect((await status(gw.url, 1)).status).toBe(404); // the test account is verified (and cached) first
    // Fill the process's password checks, as a flood of wrong passwords would.
    const held: (() => void)[] = [];
    const fillers: Promise<unknown>[] = [];
    for (;;) {
      const p = passwordChecks.tryRun(() => new Promise<void>((r) => held.push(r)));
      if (p === undefined) break;
      fillers.push(p);
    }
    try {
      const busy = await send(gw.url, simpleMt('15551230001'), basic(ACCOUNT.id, 'a guess'));
      expect(busy.status).toBe(429);
      expect(busy.headers['retry-after']).toBe('1');
      expect(busy.json).toMatchObject({ code: 'RATE_LIMITED', description: 'Too many requests (new credentials are being checked); retry after 1 s.' });
      expect((await status(gw.url, 1, AUTH)).status).toBe(404);
    } finally {
      while (held.length > 0 || passwordChecks.load.running > 0) {
        for (const r of held.splice(0)) r();
        await new Promise((r) => setImmediate(r));
      }
      await Promise.all(fillers);
    }
    expect((await send(gw.url, simpleMt('15551230001'), basic(ACCOUNT.id, 'a guess'))).status).toBe(401);
  });
});

describe('replacing the accounts (a configuration reload)', () => {
  it('keeps a credential verified against a hash the account still has, for the reloaded account, and drops one whose hash changed', async () => {
    const v = heldVerifier({ ...RIGHT, 'hash-acme-2': 'pw-acme-2' });
    const auth = new Authenticator<{ id: string; passwordHash: string; note?: string }>([acme, globex], 60_000, Date.now, v.verify, { gate: new DerivationGate(4, 4) });
    const first = Promise.all([auth.authenticate(basic('acme', 'pw-acme!')), auth.authenticate(basic('globex', 'pw-globex'))]);
    await v.releaseAll();
    await first;
    expect(v.started).toBe(2);

    auth.replaceAccounts([{ ...acme, note: 'reloaded' }, { id: 'globex', passwordHash: 'hash-acme-2' }]);
    // acme: same stored hash, answered from memory, with the reloaded account.
    expect(auth.cached(basic('acme', 'pw-acme!'))).toEqual({ ...acme, note: 'reloaded' });
    expect(v.started).toBe(2);
    // globex: its hash changed, so its old credential is checked again (and refused).
    expect(auth.cached(basic('globex', 'pw-globex'))).toBeUndefined();
    const again = settle(auth.authenticate(basic('globex', 'pw-globex')));
    await v.releaseAll();
    expect(await again).toMatchObject({ code: 'AUTH_INVALID' });
    expect(v.started).toBe(3);

    // A removed account's verified credential goes.
    auth.replaceAccounts([globex]);
    expect(auth.cached(basic('acme', 'pw-acme!'))).toBeUndefined();
  });
});
