import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasChromium, launchChromium } from '../browser';
import {
  client,
  createTestContext,
  listen,
  TEST_NOW,
  type Listening,
  type TestContext,
} from '../helpers';
import { createIssuer, createRoleKey } from '../fixtures';

/**
 * The supervisor's page in a real browser (Debian's Chromium driven by playwright-core) against
 * the app on an ephemeral localhost port. Skipped, saying why, where Chromium is not installed.
 */
const browserAvailable = hasChromium('supervisor page browser test');

describe.skipIf(!browserAvailable)('supervisor page (browser)', () => {
  let ctx: TestContext;
  let server: Listening;
  let base: string;
  let browser: Browser;
  let supervisor: string;

  beforeAll(async () => {
    ctx = await createTestContext();
    supervisor = await createRoleKey(ctx, 'supervisor');
    const issuer = await createIssuer(ctx, { name: 'Fujian <Certification> & Co.' });
    const at = new Date(TEST_NOW);
    await ctx.services.alerts.raise({
      subjectType: 'credential',
      subject: 'forged-credential-hash',
      verdict: 'forged',
      reasons: [{ code: 'BAD_SIGNATURE', message: 'the signature does not verify' }],
      issuerId: issuer.id,
      region: '350100',
      channel: 'verify.certificate',
      at,
      context: { presenter: '<script>alert(1)</script>' },
    });
    await ctx.services.alerts.raise({
      subjectType: 'certificate',
      subject: 'traded-certificate',
      verdict: 'misused',
      reasons: [{ code: 'HOLDER_MISMATCH', message: 'the presenter is not the holder' }],
      region: '440300',
      channel: 'verify.certificate',
      at,
    });
    await ctx.services.alerts.raise({
      subjectType: 'mark',
      subject: '1234567890123456',
      verdict: 'suspicious',
      reasons: [{ code: 'SUSPECTED_CLONE', message: 'scanned in 3 provinces within 24 h' }],
      region: '110000',
      channel: 'verify.mark',
      at,
    });
    server = await listen(ctx.app);
    base = server.url;
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await ctx?.close();
  });

  it('signs in with the form (a signed session cookie, never the key), groups alerts by severity, filters', async () => {
    const page = await browser.newPage({
      viewport: { width: 1280, height: 900 },
      locale: 'zh-CN',
    });
    const anonymous = await page.goto(`${base}/supervisor`);
    expect(anonymous?.status()).toBe(401);

    await page.fill('input[name="key"]', supervisor);
    await Promise.all([page.waitForURL(`${base}/supervisor`), page.click('button[type="submit"]')]);
    expect(page.url()).toBe(`${base}/supervisor`);
    const cookie = (await page.context().cookies()).find((c) => c.name === 'certmark_supervisor');
    expect(cookie).toMatchObject({
      name: 'certmark_supervisor',
      httpOnly: true,
      sameSite: 'Strict',
      path: '/supervisor',
    });
    expect(cookie!.value).not.toContain(supervisor.slice(3));

    const forged = page.locator('section[data-severity="forged"] tr.alert');
    await expect(forged.count()).resolves.toBe(1);
    expect(await forged.first().getAttribute('data-reason')).toBe('BAD_SIGNATURE');
    expect(await forged.first().innerText()).toContain('Fujian <Certification> & Co.');
    expect(await page.locator('section[data-severity="misused"] tr.alert').count()).toBe(1);
    expect(await page.locator('section[data-severity="suspicious"] tr.alert').count()).toBe(1);
    // Severity order on the page: forged, misused, suspicious.
    expect(
      await page
        .locator('section.severity')
        .evaluateAll((s) => s.map((e) => e.getAttribute('data-severity'))),
    ).toEqual(['forged', 'misused', 'suspicious']);
    // Details open; injected context is shown as text, never run.
    await forged.first().locator('xpath=following-sibling::tr[1]').locator('summary').click();
    expect(await page.locator('pre', { hasText: '<script>alert(1)</script>' }).count()).toBe(1);
    expect(await page.locator('#summary').innerText()).toMatch(/35 福建/);

    await page.screenshot({
      path: path.join('test-output', 'supervisor-page.png'),
      fullPage: true,
    });

    await page.selectOption('select[name="reason"]', 'HOLDER_MISMATCH');
    await Promise.all([
      page.waitForURL(/reason=HOLDER_MISMATCH/),
      page.click('form.filters button[type="submit"]'),
    ]);
    expect(await page.locator('tr.alert').count()).toBe(1);
    expect(await page.locator('section[data-severity="misused"] tr.alert').count()).toBe(1);
    expect(await page.locator('section[data-severity="forged"] tr.alert').count()).toBe(0);
    await page.close();
  });

  it('accepts a Bearer header and refuses other roles and unknown keys', async () => {
    const api = client(ctx.app);
    expect((await api.get('/supervisor', supervisor)).status).toBe(200);
    expect((await api.get('/supervisor', ctx.adminKey)).status).toBe(403);
    // What the sign-in page gives a browser: its form cookie and the form's token.
    const form = await api.get('/supervisor');
    const formCookie = form.headers.getSetCookie()[0]!.split(';')[0]!;
    const token = /name="form_token" value="([^"]+)"/.exec(form.text)![1]!;
    const signIn = (key: string) =>
      api.call('POST', '/supervisor/session', {
        body: `key=${encodeURIComponent(key)}&form_token=${token}`,
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          cookie: formCookie,
          origin: 'https://certmark.test',
        },
      });
    const wrongRole = await signIn(ctx.adminKey);
    expect(wrongRole.status).toBe(403);
    expect(wrongRole.headers.get('set-cookie')).toBeNull();
    expect((await signIn('cm_nope')).status).toBe(401);
    const signedIn = await signIn(supervisor);
    expect(signedIn.status).toBe(303);
    expect(signedIn.headers.get('location')).toBe('/supervisor');
    expect(signedIn.headers.get('referrer-policy')).toBe('no-referrer');
    const cookie = signedIn.headers.get('set-cookie')!.split(';')[0]!;
    expect(cookie).not.toContain(supervisor.slice(3));
    expect((await api.get('/supervisor', undefined, { cookie })).status).toBe(200);
    // A forged or tampered session is refused.
    expect((await api.get('/supervisor', undefined, { cookie: `${cookie}x` })).status).toBe(401);
  });
});
