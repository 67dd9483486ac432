import { describe, expect, it } from 'vitest';
import { SingleFlight } from '../../src/shared/single-flight.ts';

describe('SingleFlight', () => {
  it('shares one running promise per key, and forgets it once settled (a failure too)', async () => {
    const flights = new SingleFlight<string, number>();
    let starts = 0;
    const work = (result: Promise<number>) => () => {
      starts++;
      return result;
    };
    const [a, b] = await Promise.all([flights.run('k', work(Promise.resolve(1))), flights.run('k', work(Promise.resolve(2)))]);
    expect([a, b, starts]).toEqual([1, 1, 1]);
    expect(await flights.run('other', work(Promise.resolve(3)))).toBe(3);
    await expect(flights.run('k', work(Promise.reject(new Error('no'))))).rejects.toThrow('no');
    expect(await flights.run('k', work(Promise.resolve(4)))).toBe(4); // the failure was not remembered
    expect(starts).toBe(4);
  });
});
