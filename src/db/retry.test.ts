import { describe, expect, it } from 'vitest';
import { retryWhileUnavailable } from './retry';

const lost = () => Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
const timedOut = () =>
  Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' });

/** An operation that fails with the given errors in turn, then answers 'ok'; counts its tries. */
function failing(...errors: Error[]) {
  let tries = 0;
  return {
    run: () => {
      const error = errors[tries++];
      return error ? Promise.reject(error) : Promise.resolve('ok');
    },
    tries: () => tries,
  };
}

describe('retryWhileUnavailable', () => {
  it('tries again while the database cannot be reached, then answers', async () => {
    const op = failing(lost(), lost());
    await expect(
      retryWhileUnavailable(op.run, { delaysMs: [1, 1, 1], withinMs: 1000 }),
    ).resolves.toBe('ok');
    expect(op.tries()).toBe(3);
  });

  it('gives up after the last delay', async () => {
    const op = failing(lost(), lost(), lost());
    await expect(
      retryWhileUnavailable(op.run, { delaysMs: [1, 1], withinMs: 1000 }),
    ).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(op.tries()).toBe(3);
  });

  it('starts no try past its time', async () => {
    const op = failing(lost(), lost());
    const started = performance.now();
    await expect(
      retryWhileUnavailable(op.run, { delaysMs: [20, 500], withinMs: 200 }),
    ).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(op.tries()).toBe(2);
    expect(performance.now() - started).toBeLessThan(400);
  });

  it('does not try again a statement that ran out of time, nor any other error', async () => {
    for (const error of [
      timedOut(),
      new Error('syntax error'),
      Object.assign(new Error('x'), { code: '23505' }),
    ]) {
      const op = failing(error);
      await expect(
        retryWhileUnavailable(op.run, { delaysMs: [1, 1], withinMs: 1000 }),
      ).rejects.toBe(error);
      expect(op.tries()).toBe(1);
    }
  });

  it('reads the code of a wrapped cause', async () => {
    const op = failing(new Error('query failed', { cause: lost() }));
    await expect(retryWhileUnavailable(op.run, { delaysMs: [1], withinMs: 1000 })).resolves.toBe(
      'ok',
    );
    const slow = failing(new Error('query failed', { cause: timedOut() }));
    await expect(
      retryWhileUnavailable(slow.run, { delaysMs: [1], withinMs: 1000 }),
    ).rejects.toThrow();
    expect(slow.tries()).toBe(1);
  });
});
