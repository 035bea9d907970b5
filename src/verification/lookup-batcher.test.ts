import { describe, expect, it } from 'vitest';
import { LookupBatcher } from './lookup-batcher';

/** A statement per call, answered when the test says so. */
function controlledStatements() {
  const statements: { queries: number[]; answer: (error?: Error) => void }[] = [];
  const execute = (queries: number[]) =>
    new Promise<string[]>((resolve, reject) => {
      statements.push({
        queries,
        answer: (error) => (error ? reject(error) : resolve(queries.map((q) => `answer ${q}`))),
      });
    });
  return { statements, execute };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('LookupBatcher', () => {
  it('sends a lone lookup at once', async () => {
    const { statements, execute } = controlledStatements();
    const batcher = new LookupBatcher(execute, { maxInFlight: 1 });
    const answer = batcher.find(1);
    expect(statements.map((s) => s.queries)).toEqual([[1]]);
    statements[0]!.answer();
    await expect(answer).resolves.toBe('answer 1');
  });

  it('sends the lookups that arrive while statements run together, each answered with its own', async () => {
    const { statements, execute } = controlledStatements();
    const batcher = new LookupBatcher(execute, { maxInFlight: 2, maxBatch: 3 });
    const answers = [1, 2, 3, 4, 5, 6, 7].map((q) => batcher.find(q));
    expect(statements.map((s) => s.queries)).toEqual([[1], [2]]);
    statements[1]!.answer();
    await settle();
    expect(statements.map((s) => s.queries)).toEqual([[1], [2], [3, 4, 5]]);
    statements[0]!.answer();
    await settle();
    expect(statements.map((s) => s.queries)).toEqual([[1], [2], [3, 4, 5], [6, 7]]);
    statements[2]!.answer();
    statements[3]!.answer();
    await expect(Promise.all(answers)).resolves.toEqual(
      [1, 2, 3, 4, 5, 6, 7].map((q) => `answer ${q}`),
    );
  });

  it('fails the lookups of a failed statement only, and goes on with the next', async () => {
    const { statements, execute } = controlledStatements();
    const batcher = new LookupBatcher(execute, { maxInFlight: 1 });
    const first = batcher.find(1);
    const waiting = [batcher.find(2), batcher.find(3)];
    statements[0]!.answer(new Error('the database is unreachable'));
    await expect(first).rejects.toThrow('the database is unreachable');
    await settle();
    expect(statements.map((s) => s.queries)).toEqual([[1], [2, 3]]);
    statements[1]!.answer();
    await expect(Promise.all(waiting)).resolves.toEqual(['answer 2', 'answer 3']);
  });

  it('fails the lookups of a statement that throws before it starts', async () => {
    const batcher = new LookupBatcher<number, string>(() => {
      throw new Error('no connection');
    });
    await expect(batcher.find(1)).rejects.toThrow('no connection');
  });
});
