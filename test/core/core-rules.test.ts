import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src/core/errors.ts';
import { canTransition } from '../../src/core/message.ts';
import { routeByPrefix, validateMtRequest } from '../../src/core/mt-request.ts';
import { nextAttemptAt, parseDuration, schedule } from '../../src/core/retry-policy.ts';
import { outcomeFromMmStatus, OUTCOMES } from '../../src/core/outcomes.ts';
import { simBehaviour } from '../../src/operators/simulator/test-numbers.ts';
import { IdAllocator } from '../../src/core/ids.ts';

const account = { id: 'acme', mtConfigs: { default: {}, config1: {} }, numbers: [{ number: '88600' }, { number: '15550001111' }] };
const operators = [
  { id: 77, prefixes: ['1'] },
  { id: 310, prefixes: ['1555'] },
];
const codeOf = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    return (e as ApiError).code;
  }
  return 'none';
};

describe('MT control part validation', () => {
  it('accepts the seed example and defaults mtConfig', () => {
    const v = validateMtRequest({ type: 'MT', source: '88600', destination: '15551230001', subject: 'Hi' }, account, operators);
    expect(v).toEqual({ source: '88600', destination: '15551230001', mtConfig: 'default', subject: 'Hi', operatorId: 310 });
  });
  it('routes by the longest prefix unless mobileOperatorId is given', () => {
    expect(routeByPrefix(operators, '15551230001')?.id).toBe(310);
    expect(routeByPrefix(operators, '14155550000')?.id).toBe(77);
    expect(routeByPrefix(operators, '447700900000')).toBeUndefined();
    expect(validateMtRequest({ source: '88600', destination: '15551230001', mobileOperatorId: 77 }, account, operators).operatorId).toBe(77);
  });
  it("takes the seed's field types and their string forms, and ignores fields it does not know", () => {
    // Seed: "mobileOperatorId": 77, a JSON number; clients also send "77". Numbers may come unquoted.
    const seed = { type: 'MT', source: '88600', destination: '15551230001', mtConfig: 'config1', subject: 'Example MMS', mobileOperatorId: 77 };
    const want = { source: '88600', destination: '15551230001', mtConfig: 'config1', subject: 'Example MMS', operatorId: 77 };
    expect(validateMtRequest(seed, account, operators)).toEqual(want);
    expect(validateMtRequest({ ...seed, mobileOperatorId: '77' }, account, operators)).toEqual(want);
    expect(validateMtRequest({ ...seed, source: 88600, destination: 15551230001 }, account, operators)).toEqual(want);
    expect(validateMtRequest({ ...seed, type: 'mt', campaign: 'spring', tags: ['a'] }, account, operators)).toEqual(want);
  });
  it.each([
    [{ source: '88600' }, 'MISSING_FIELD'],
    [{ source: '88600', destination: '+15551230001' }, 'INVALID_DESTINATION'],
    [{ source: '88600', destination: '555' }, 'INVALID_DESTINATION'],
    [{ destination: '15551230001' }, 'MISSING_FIELD'],
    [{ source: '99999', destination: '15551230001' }, 'FORBIDDEN_SOURCE'],
    [{ source: '88600', destination: '15551230001', mtConfig: 'nope' }, 'UNKNOWN_MT_CONFIG'],
    [{ source: '88600', destination: '15551230001', mobileOperatorId: 5 }, 'UNKNOWN_OPERATOR'],
    [{ source: '88600', destination: '447700900000' }, 'NO_ROUTE'],
    [{ type: 'MO', source: '88600', destination: '15551230001' }, 'INVALID_TYPE'],
    [[1, 2], 'INVALID_JSON'],
  ])('refuses %j with %s', (json, code) => {
    expect(codeOf(() => validateMtRequest(json, account, operators))).toBe(code);
  });
});

describe('state machine', () => {
  it('moves forward only; interim reports may repeat', () => {
    expect(canTransition('accepted', 'submitted')).toBe(true);
    expect(canTransition('submitted', 'accepted')).toBe(false);
    expect(canTransition('reported', 'reported')).toBe(true);
    expect(canTransition('delivered', 'failed')).toBe(false);
    expect(canTransition('reported', 'delivered')).toBe(true);
  });
});

describe('retry policy', () => {
  const p = schedule(['1s', '5s', '30s'], '1m', 0, 0);
  it('follows the table, repeats its last entry, makes a last attempt at maxAge, then gives up', () => {
    expect(nextAttemptAt(p, 1, 0, 0)).toBe(1000);
    expect(nextAttemptAt(p, 2, 0, 0)).toBe(5000);
    expect(nextAttemptAt(p, 9, 0, 10_000)).toBe(40_000);
    expect(nextAttemptAt(p, 9, 0, 40_000)).toBe(60_000); // the next step (70 s) is past maxAge: the deadline instead
    expect(nextAttemptAt(p, 10, 0, 60_000)).toBeNull();
    expect(nextAttemptAt(p, 9, 0, 40_000, 30_000)).toBeNull(); // Retry-After asks to wait past maxAge
  });
  it('honours a Retry-After floor and parses durations', () => {
    expect(nextAttemptAt(p, 1, 0, 0, 20_000)).toBe(20_000);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(() => parseDuration('soon')).toThrow(/invalid duration/);
  });
  it('jitters within bounds', () => {
    const j = schedule(['10s'], '1h', 0, 0.2);
    expect(nextAttemptAt(j, 1, 0, 0, 0, () => 0)).toBe(8000);
    expect(nextAttemptAt(j, 1, 0, 0, 0, () => 1)).toBe(12_000);
  });
});

describe('outcomes and simulator test numbers', () => {
  it('maps MM7 statuses whatever their spelling', () => {
    expect(outcomeFromMmStatus(' retrieved ')).toBe(OUTCOMES.RETRIEVED);
    expect(outcomeFromMmStatus('Unrecognized')).toBe(OUTCOMES.UNRECOGNISED);
    expect(outcomeFromMmStatus('Indeterminate')).toBe(OUTCOMES.INDETERMINATE);
    expect(outcomeFromMmStatus('whatever')).toBe(OUTCOMES.UNKNOWN_STATUS); // interim: a later final report still applies
  });
  it('15550100NNN reports outcome NNN; 15550199000 never reports', () => {
    expect(simBehaviour('15550100009').report).toBe(OUTCOMES.RECIPIENT_NOT_FOUND);
    expect(simBehaviour('15550100004').report?.status).toBe('Deferred');
    expect(simBehaviour('15550199000').report).toBeNull();
    expect(simBehaviour('15551230001').report).toBe(OUTCOMES.RETRIEVED);
  });
});

describe('id allocation', () => {
  it('hands out unique ids from reserved blocks, reserving once per block even under concurrency', async () => {
    let next = 100;
    let calls = 0;
    const alloc = new IdAllocator(async (n) => {
      calls++;
      const first = next;
      next += n;
      return first;
    }, 10);
    const ids = await Promise.all(Array.from({ length: 25 }, () => alloc.take()));
    expect(new Set(ids).size).toBe(25);
    expect(calls).toBe(3);
  });

  it('reserves the next block before the current one runs out, so a take at the boundary does not wait', async () => {
    const blocks = [1000, 2000];
    let calls = 0;
    const alloc = new IdAllocator(async () => blocks[calls++]!, 10);
    const first = [];
    for (let i = 0; i < 8; i++) first.push(await alloc.take());
    expect(first).toEqual([1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007]);
    expect(calls).toBe(2); // two left in the first block: the second is already reserved
    const rest = [];
    for (let i = 0; i < 4; i++) rest.push(await alloc.take());
    expect(rest).toEqual([1008, 1009, 2000, 2001]);
    expect(calls).toBe(2);
  });

  it('hands out ids synchronously while a reserved block has some, and nothing before the first block', async () => {
    let calls = 0;
    const alloc = new IdAllocator(async () => [1000, 2000][calls++]!, 10);
    expect(alloc.takeNow()).toBeUndefined(); // nothing reserved yet: the caller must wait (take)
    expect(await alloc.take()).toBe(1000);
    const sync = Array.from({ length: 11 }, () => alloc.takeNow());
    await Promise.resolve(); // let the block reserved ahead arrive
    // 1001..1009, then the spare block without waiting; take() and takeNow() share one sequence.
    expect([...sync.slice(0, 9), alloc.takeNow(), await alloc.take()]).toEqual([1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 2000, 2001]);
    expect(sync.slice(9)).toEqual([undefined, undefined]);
  });

  it('passes a failed reservation to the take that needs it, and tries again on the next', async () => {
    let fail = true;
    const alloc = new IdAllocator(async () => {
      if (fail) throw new Error('store down');
      return 500;
    }, 10);
    await expect(alloc.take()).rejects.toThrow('store down');
    fail = false;
    expect(await alloc.take()).toBe(500);
  });
});

describe('remote content host allow-list', async () => {
  const { hostAllowed } = await import('../../src/content/guarded-fetch.ts');
  it('matches exact names, subdomain wildcards and IPv6 literals with or without brackets', () => {
    expect(hostAllowed('cdn.example.com', ['cdn.example.com'])).toBe(true);
    expect(hostAllowed('CDN.Example.com', ['cdn.example.com'])).toBe(true);
    expect(hostAllowed('img.cdn.example.com', ['*.example.com'])).toBe(true);
    expect(hostAllowed('example.com.evil.net', ['*.example.com'])).toBe(false);
    expect(hostAllowed('www.openmarket.com', ['127.0.0.1', 'localhost', '::1'])).toBe(false);
    expect(hostAllowed('[::1]', ['::1'])).toBe(true);
  });
});

describe('control part JSON', async () => {
  const { parseControlJson } = await import('../../src/api/multipart-request.ts');
  const nbspIndented = Buffer.from('{\n\u00a0\u00a0 "type": "MT",\n\u00a0\u00a0 "subject": "Example\u00a0MMS"\n}');
  it('lenient mode takes JSON indented with no-break spaces, as copied from the documentation page', () => {
    expect(parseControlJson(nbspIndented, true)).toEqual({ type: 'MT', subject: 'Example MMS' });
    expect(codeOf(() => parseControlJson(nbspIndented, false))).toBe('INVALID_JSON');
  });
  it('keeps a no-break space inside a value when the JSON is valid as sent', () => {
    expect(parseControlJson(Buffer.from('{"subject":"a\u00a0b"}'), true)).toEqual({ subject: 'a\u00a0b' });
  });
});
