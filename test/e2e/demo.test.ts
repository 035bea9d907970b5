import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { seedDemo } from '../../src/demo/seed';
import { createTestContext, type TestContext } from '../helpers';

/** `npm run demo`, twice: the same data, and only the keys printed last still work. */
describe('demo data', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await createTestContext();
  });
  afterAll(async () => ctx.close());

  it('seeds once, and a run again gives fresh keys in place of the last run’s', async () => {
    const printed: string[] = [];
    const write = vi
      .spyOn(process.stdout, 'write')
      .mockImplementation((chunk: string | Uint8Array) => {
        printed.push(String(chunk));
        return true;
      });
    const deps = {
      db: ctx.handle.db,
      config: ctx.config,
      keys: ctx.keys,
      clock: ctx.clock,
      services: ctx.services,
    };
    try {
      await seedDemo(deps);
      const certificates = (
        await ctx.services.certificates.searchRegistry({ page: 1, pageSize: 50 })
      ).total;
      const first = (await ctx.services.apiKeys.listKeys()).filter(
        (k) => k.label === 'certmark demo (npm run demo)',
      );
      await seedDemo(deps);
      const again = (await ctx.services.apiKeys.listKeys()).filter(
        (k) => k.label === 'certmark demo (npm run demo)',
      );
      expect(
        (await ctx.services.certificates.searchRegistry({ page: 1, pageSize: 50 })).total,
      ).toBe(certificates);
      expect(first.length).toBeGreaterThan(0);
      // The first run's keys are revoked; as many fresh ones are active.
      for (const key of first)
        expect(again.find((k) => k.id === key.id)?.revokedAt, key.id).not.toBeNull();
      expect(again.filter((k) => k.revokedAt === null)).toHaveLength(first.length);
    } finally {
      write.mockRestore();
    }
    expect(printed.join('')).toContain('curl');
  });
});
