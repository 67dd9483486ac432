/**
 * A reload (LoadOptions.previous) keeps the scrypt hash of a plain `password` that did not change: no ~40 ms key
 * derivation per account on the event loop, and credentials verified against that hash stay verified
 * (Authenticator.replaceAccounts keeps entries whose passwordHash is unchanged).
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import type { ConfigInput } from '../../src/config/schema.ts';
import { verifySecret } from '../../src/core/secrets.ts';

const operators = [{ id: 77, type: 'simulator', prefixes: ['1'] }] as ConfigInput['operators'];
let nextNumber = 88600;
const account = (id: string, password: string) => ({ id, password, mtConfigs: { default: {} }, numbers: [{ number: String(nextNumber++) }] });
const hashed = { id: 'hashed', passwordHash: '', mtConfigs: { default: {} }, numbers: [{ number: '88599' }] };

function load(accounts: unknown[], previous?: ReturnType<typeof loadConfig>) {
  return loadConfig({ raw: { accounts, operators } as ConfigInput, ...(previous ? { previous } : {}) });
}

describe('plain passwords across a reload', () => {
  it('keeps the hash of an unchanged password, hashes a changed one afresh, and hashes everything afresh without a previous load', async () => {
    const first = load([account('acme', 's3cret'), account('globex', 'g10bex')]);
    const again = load([account('acme', 's3cret'), account('globex', 'changed')], first);
    const hashOf = (c: typeof first, id: string) => c.accounts.find((a) => a.id === id)!.passwordHash!;

    expect(hashOf(again, 'acme')).toBe(hashOf(first, 'acme'));
    expect(hashOf(again, 'globex')).not.toBe(hashOf(first, 'globex'));
    expect(await verifySecret('changed', hashOf(again, 'globex'))).toBe(true);
    expect(await verifySecret('g10bex', hashOf(again, 'globex'))).toBe(false);

    // A load that is not a reload salts every hash afresh (two loads never share a hash by chance).
    expect(hashOf(load([account('acme', 's3cret')]), 'acme')).not.toBe(hashOf(first, 'acme'));
  });

  it('does not carry a hash to another account with the same password, nor keep the plain text', () => {
    const first = load([account('acme', 's3cret')]);
    const renamed = load([account('initech', 's3cret')], first);
    expect(renamed.accounts[0]!.passwordHash).not.toBe(first.accounts[0]!.passwordHash);
    expect(JSON.stringify(first)).not.toContain('s3cret');
    expect(Object.keys(first.plainPasswordDigests)).toEqual(['acme']);
  });

  it('leaves an account given by passwordHash as written', () => {
    const withHash = load([account('acme', 's3cret')]);
    const stored = withHash.accounts[0]!.passwordHash;
    const next = load([account('acme', 's3cret'), { ...hashed, passwordHash: stored }], withHash);
    expect(next.accounts.find((a) => a.id === 'hashed')!.passwordHash).toBe(stored);
    expect(next.plainPasswordDigests).not.toHaveProperty('hashed');
  });
});
