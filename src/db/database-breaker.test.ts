import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DatabaseBreaker, DatabaseUnavailableError } from './database-breaker';
import { isDatabaseUnavailable } from '../errors';

/** A probe the test answers by hand: `up` decides whether it succeeds. */
function scriptedProbe() {
  const state = { up: true, calls: 0 };
  const probe = async () => {
    state.calls += 1;
    if (!state.up) throw new Error('connect ECONNREFUSED');
  };
  return { state, probe };
}

describe('DatabaseBreaker', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  const breakerWith = (probe: () => Promise<void>) => {
    const changes: string[] = [];
    const breaker = new DatabaseBreaker({
      probe,
      stallAfterMs: 1_000,
      probeTimeoutMs: 1_000,
      reprobeEveryMs: 500,
      queryDeadlineMs: 20_000,
      onChange: (state) => changes.push(state),
    });
    return { breaker, changes };
  };

  it('opens when the database has answered nothing for a while and the probe fails, aborting what waits', async () => {
    const { state, probe } = scriptedProbe();
    const { breaker, changes } = breakerWith(probe);
    state.up = false;
    const aborted: string[] = [];
    breaker.watch(() => aborted.push('query'));
    await vi.advanceTimersByTimeAsync(900);
    expect(state.calls).toBe(0);
    expect(breaker.isOpen).toBe(false);
    await vi.advanceTimersByTimeAsync(600);
    expect(state.calls).toBe(1);
    expect(breaker.isOpen).toBe(true);
    expect(aborted).toEqual(['query']);
    expect(changes).toEqual(['open']);
    let refusal: unknown;
    try {
      breaker.assertClosed();
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(DatabaseUnavailableError);
    expect(isDatabaseUnavailable(refusal)).toBe(true);

    // Probed again every half second; the first answer closes it.
    await vi.advanceTimersByTimeAsync(1_100);
    expect(state.calls).toBeGreaterThanOrEqual(3);
    expect(breaker.isOpen).toBe(true);
    state.up = true;
    await vi.advanceTimersByTimeAsync(600);
    expect(breaker.isOpen).toBe(false);
    expect(changes).toEqual(['open', 'closed']);
    expect(() => breaker.assertClosed()).not.toThrow();
    breaker.stop();
  });

  it('a probe that never settles counts as failed after its timeout', async () => {
    const { breaker } = breakerWith(() => new Promise<void>(() => {}));
    breaker.watch(() => {});
    await vi.advanceTimersByTimeAsync(1_300);
    expect(breaker.isOpen).toBe(false);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(breaker.isOpen).toBe(true);
    breaker.stop();
  });

  it('leaves a slow query alone while the database answers the probe, until its own deadline', async () => {
    const { state, probe } = scriptedProbe();
    const { breaker, changes } = breakerWith(probe);
    const aborted: string[] = [];
    breaker.watch(() => aborted.push('slow'));
    await vi.advanceTimersByTimeAsync(10_000);
    expect(state.calls).toBeGreaterThan(0);
    expect(aborted).toEqual([]);
    expect(breaker.isOpen).toBe(false);
    await vi.advanceTimersByTimeAsync(10_500);
    expect(aborted).toEqual(['slow']);
    expect(changes).toEqual([]);
    breaker.stop();
  });

  it('does not probe while other operations are being answered', async () => {
    const { state, probe } = scriptedProbe();
    const { breaker } = breakerWith(probe);
    breaker.watch(() => {});
    for (let i = 0; i < 20; i++) {
      breaker.watch(() => {}).answered();
      await vi.advanceTimersByTimeAsync(250);
    }
    expect(state.calls).toBe(0);
    breaker.stop();
  });

  it('a connection error makes it probe at once; a live database keeps it closed', async () => {
    const { state, probe } = scriptedProbe();
    const { breaker } = breakerWith(probe);
    breaker.watch(() => {}).failed();
    await vi.advanceTimersByTimeAsync(0);
    expect(state.calls).toBe(1);
    expect(breaker.isOpen).toBe(false);
    state.up = false;
    breaker.suspect();
    await vi.advanceTimersByTimeAsync(0);
    expect(breaker.isOpen).toBe(true);
    breaker.stop();
  });

  it('a probe that times out while other work is answered does not open it (slow, not down)', async () => {
    const { breaker } = breakerWith(() => new Promise<void>(() => {}));
    breaker.watch(() => {});
    await vi.advanceTimersByTimeAsync(1_300);
    breaker.watch(() => {}).answered();
    await vi.advanceTimersByTimeAsync(900);
    expect(breaker.isOpen).toBe(false);
    breaker.stop();
  });

  it('while open, gives each probe that ran out of time twice as long as the last, within a bound', async () => {
    let probeMs = 60_000;
    const { breaker, changes } = breakerWith(
      () => new Promise<void>((resolve) => setTimeout(resolve, probeMs)),
    );
    breaker.watch(() => {});
    await vi.advanceTimersByTimeAsync(2_300);
    expect(breaker.isOpen).toBe(true);
    // Up but slow to accept a connection (1.8 s): the second probe after opening has 2 s.
    probeMs = 1_800;
    await vi.advanceTimersByTimeAsync(6_000);
    expect(changes).toEqual(['open', 'closed']);
    expect(breaker.isOpen).toBe(false);
    breaker.stop();
  });

  it('gives the probe longer when recent probes were slow, within a bound', async () => {
    let probeMs = 300;
    let calls = 0;
    const { breaker } = breakerWith(
      () =>
        new Promise<void>((resolve) => {
          calls += 1;
          setTimeout(resolve, probeMs);
        }),
    );
    // A lone slow query: probed every second or so, each probe taking 300 ms.
    breaker.watch(() => {});
    await vi.advanceTimersByTimeAsync(5_000);
    expect(calls).toBeGreaterThan(1);
    expect(breaker.isOpen).toBe(false);
    // A probe of 1.4 s now passes (5 × 300 ms = 1.5 s allowed), where 1 s was the floor.
    probeMs = 1_400;
    await vi.advanceTimersByTimeAsync(5_000);
    expect(breaker.isOpen).toBe(false);
    breaker.stop();
  });
});

describe('isDatabaseUnavailable', () => {
  it('takes every way a socket to the database can fail for unavailability (503), wrapped or not', () => {
    for (const code of [
      'ECONNREFUSED',
      'ECONNRESET',
      'ECONNABORTED', // a write on a connection reset under it (seen as 500 before)
      'ETIMEDOUT',
      'ENETUNREACH',
      'ENETDOWN',
      'EPIPE',
      '57P01',
    ]) {
      const error = Object.assign(new Error(`write ${code}`), { code });
      expect(isDatabaseUnavailable(error), code).toBe(true);
      expect(isDatabaseUnavailable(new Error('Failed query', { cause: error })), code).toBe(true);
    }
    expect(isDatabaseUnavailable(Object.assign(new Error('dup'), { code: '23505' }))).toBe(false);
  });
});
