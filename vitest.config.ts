import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 2,
    // Each worker keeps its modules from file to file instead of importing the service afresh for
    // each of the 84 files: about 35 s of a 3.5-minute run. Files share no rows (a database each,
    // test/global-setup.ts) and no module state they rely on being new.
    isolate: false,
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
