import { randomBytes } from 'node:crypto';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app';
import { fixedClock } from '../../src/clock';
import { loadConfig } from '../../src/config';
import type { Database } from '../../src/db/client';
import { hasChromium, launchChromium } from '../browser';
import { listen, TEST_NOW, type Listening } from '../helpers';

/**
 * GET /docs as a person on a network with no way out sees it: Chromium with every request to
 * another host refused still lists the operations, because the page, its script and the document
 * all come from this service.
 */
const browserAvailable = hasChromium('API reference browser test');

describe.skipIf(!browserAvailable)('API reference page, offline', () => {
  let server: Listening;
  let browser: Browser;

  beforeAll(async () => {
    // The page and the document need no database.
    const app = createApp({
      db: {} as Database,
      config: loadConfig({ PUBLIC_BASE_URL: 'https://certmark.example.org' }),
      keys: { kek: new Uint8Array(randomBytes(32)), platformSeed: new Uint8Array(randomBytes(32)) },
      clock: fixedClock(TEST_NOW),
    });
    server = await listen(app);
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  // Chromium parses a 4.7 MB script: allow a loaded machine its time.
  it(
    'lists the operations with every other host blocked, and asks no other host',
    { timeout: 120_000 },
    async () => {
      const page = await browser.newPage();
      const origin = new URL(server.url).origin;
      const elsewhere: string[] = [];
      const local: string[] = [];
      await page.route('**/*', (route) => {
        const url = route.request().url();
        if (new URL(url).origin === origin) {
          local.push(new URL(url).pathname);
          return route.continue();
        }
        elsewhere.push(url);
        return route.abort('blockedbyclient');
      });
      const failures: string[] = [];
      page.on('pageerror', (error) => failures.push(error.message));

      const response = await page.goto(`${server.url}/docs`);
      expect(response?.status()).toBe(200);
      for (const summary of [
        'Issue a certificate (issuer) with its signed credential',
        'Verify a scanned mark or a typed serial (public)',
        'Verify a credential or a certificate number (public)',
      ]) {
        await expect
          .poll(() => page.getByText(summary, { exact: true }).count(), { timeout: 90_000 })
          .toBeGreaterThan(0);
      }
      expect(local).toEqual(
        expect.arrayContaining(['/docs', '/docs/scalar-api-reference.js', '/openapi.json']),
      );
      expect(elsewhere).toEqual([]);
      expect(failures).toEqual([]);
      await page.close();
    },
  );
});
