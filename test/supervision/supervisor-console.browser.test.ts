import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasChromium, launchChromium } from '../browser';
import {
  client,
  createTestContext,
  listen,
  TEST_NOW,
  type Client,
  type Listening,
  type TestContext,
} from '../helpers';
import { createIssuer, createRoleKey, issueCertificate } from '../fixtures';
import { issueMarks, type IssuedMark } from '../marks/mark-helpers';

/**
 * The supervisor console: signing in, what it counts (the map's provinces, the trend's days, a clone's checks,
 * through the alerts and marks services against PostgreSQL), then what a supervisor sees in a real
 * browser (Debian's Chromium driven by playwright-core) with every request to another host blocked
 * and none made: the charts drawn from the bundle this service serves, in Chinese and English, and
 * on a 360-pixel phone without sideways scrolling. Screenshots go to a temporary folder, or to
 * docs/screenshots/ with UPDATE_SCREENSHOTS=1 (the data are random, so a plain run leaves the
 * committed pictures alone).
 */
const browserAvailable = hasChromium('supervisor console browser test');
const SCREENSHOTS = process.env.UPDATE_SCREENSHOTS
  ? path.resolve('docs/screenshots')
  : fs.mkdtempSync(path.join(os.tmpdir(), 'certmark-screenshots-'));
const readable = (text: string | null) => (text ?? '').replace(/\s+/g, ' ').trim();

describe('supervisor console', () => {
  let ctx: TestContext;
  let api: Client;
  let supervisor: string;
  let cloneSerial: string;
  let cloned: IssuedMark;
  let genuine: IssuedMark;

  beforeAll(async () => {
    ctx = await createTestContext();
    api = client(ctx.app);
    supervisor = await createRoleKey(ctx, 'supervisor');
    const body = await createIssuer(ctx, { name: 'Fujian <Certification> & Co.' });
    // Two days ago (China time): a forgery seen in Fujian and Zhejiang.
    for (const [region, at] of [
      ['350100', '2026-11-22T03:00:00Z'],
      ['330100', '2026-11-22T05:00:00Z'],
    ] as const) {
      await ctx.services.alerts.raise({
        subjectType: 'credential',
        subject: 'forged-credential-hash',
        verdict: 'forged',
        reasons: [{ code: 'BAD_SIGNATURE', message: 'the signature does not verify' }],
        issuerId: body.id,
        region,
        channel: 'verify.certificate',
        at: new Date(at),
        context: { presenter: '<script>alert(1)</script>' },
      });
    }
    // Today: a certificate used by someone else in Guangdong.
    await ctx.services.alerts.raise({
      subjectType: 'certificate',
      subject: 'traded-certificate',
      verdict: 'misused',
      reasons: [{ code: 'HOLDER_MISMATCH', message: 'the presenter is not the holder' }],
      region: '440300',
      channel: 'verify.certificate',
      at: new Date(TEST_NOW),
    });
    await ctx.services.alerts.flush();

    const certificate = await issueCertificate(api, body.key);
    const [genuineMark, clonedMark] = (
      await issueMarks(api, body.key, certificate.id, { count: 2 })
    ).marks;
    cloned = clonedMark!;
    genuine = genuineMark!;
    cloneSerial = cloned.serial;
    // Four days ago one genuine check; today one mark checked in Fuzhou, Beijing and Shenzhen.
    ctx.clock.set('2026-11-20T02:00:00Z');
    try {
      await api.post('/v1/verify/mark', { code: genuine.code, location: { region: '350100' } });
    } finally {
      ctx.clock.set(TEST_NOW);
    }
    for (const region of ['350100', '110105', '440300']) {
      await api.post('/v1/verify/mark', { code: cloned.code, location: { region } });
    }
    await api.post('/v1/verify/mark', {
      code: cloned.code,
      location: { region: '440300', lat: 22.543, lon: 114.058 },
    });
    // A buyer opening the genuine mark's page and reloading it: one check, two log entries.
    const first = await api.get(`/m/${genuine.code}`);
    const views = first.headers.getSetCookie()[0]!.split(';')[0]!;
    expect((await api.get(`/m/${genuine.code}`, undefined, { cookie: views })).status).toBe(200);
    await ctx.services.markVerification.flushScanLog();
    await ctx.services.alerts.flush();
  });

  afterAll(async () => {
    await ctx?.services.marks.close();
    await ctx?.services.markVerification.close();
    await ctx?.close();
  });

  /** The figures the page's charts draw (its `#console-data` block). */
  function consoleData(text: string) {
    const block = /<script type="application\/json" id="console-data">([\s\S]*?)<\/script>/.exec(
      text,
    );
    return JSON.parse(block![1]!);
  }

  it('counts alerts by province and severity, alerts and checks per China day, and a clone’s checks in order', async () => {
    const page = await api.get('/supervisor', supervisor);
    expect(page.status).toBe(200);
    expect(page.text).toContain('<html lang="zh-CN">');
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toMatch(/script-src 'nonce-[^']+'(;|$)/);
    expect(csp).not.toContain('unsafe-inline');
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    const data = consoleData(page.text);
    const province = (name: string) => data.provinces.find((p: any) => p.name === name);
    expect(data.provinces).toHaveLength(34);
    expect(province('福建')).toMatchObject({ forged: 1, misused: 0 });
    expect(province('浙江')).toMatchObject({ forged: 1 });
    expect(province('广东')).toMatchObject({ forged: 0, misused: 1, suspicious: 1 });
    // A clone's alert is counted where it was raised (the check that crossed the threshold).
    expect(province('北京')).toMatchObject({ suspicious: 0 });
    expect(province('西藏')).toMatchObject({ forged: 0, misused: 0, suspicious: 0 });

    const day = (d: string) => data.trend.days.indexOf(d);
    expect(data.trend.days).toHaveLength(30);
    expect(data.trend.days.at(-1)).toBe('2026-11-24');
    expect(data.trend.forged[day('2026-11-22')]).toBe(1);
    expect(data.trend.misused[day('2026-11-24')]).toBe(1);
    expect(data.trend.suspicious[day('2026-11-24')]).toBe(1);
    expect(data.trend.checks[day('2026-11-20')]).toBe(1);
    // The reload is logged but not counted.
    expect(data.trend.checks[day('2026-11-24')]).toBe(5);
    expect(data.trend.forged.reduce((a: number, b: number) => a + b, 0)).toBe(1);

    expect(data.clones).toEqual([
      {
        serial: cloneSerial,
        scans: [
          expect.objectContaining({ province: '35', lat: null }),
          expect.objectContaining({ province: '11' }),
          expect.objectContaining({ province: '44', lat: null }),
          expect.objectContaining({ province: '44', lat: 22.543, lon: 114.058 }),
        ],
      },
    ]);

    // Past days are remembered once settled; today is counted afresh on every load.
    await api.post('/v1/verify/mark', { code: genuine.code });
    await ctx.services.markVerification.flushScanLog();
    const again = consoleData((await api.get('/supervisor', supervisor)).text);
    expect(again.trend.checks[day('2026-11-24')]).toBe(6);
    expect(again.trend.checks[day('2026-11-20')]).toBe(1);

    const en = await api.get('/supervisor?lang=en&status=all', supervisor);
    expect(en.text).toContain('<html lang="en">');
    expect(consoleData(en.text).provinces).toContainEqual(
      expect.objectContaining({ name: '广东', label: 'Guangdong' }),
    );
    // The language switch keeps the filters.
    expect(en.text).toContain('href="/supervisor?lang=zh&amp;status=all"');
  });

  it('serves its chart script itself, without the page’s data', async () => {
    const script = await api.get('/supervisor/assets/console.js');
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(script.text).toContain('registerMap');
    expect(script.text).not.toContain(cloneSerial);
  });

  it('accepts a Bearer header and refuses other roles and unknown keys', async () => {
    expect((await api.get('/supervisor', supervisor)).status).toBe(200);
    expect((await api.get('/supervisor', ctx.adminKey)).status).toBe(403);
    // What the sign-in page gives a browser: its form cookie and the form's token.
    const form = await api.get('/supervisor');
    const formCookie = form.headers.getSetCookie()[0]!.split(';')[0]!;
    const token = /name="form_token" value="([^"]+)"/.exec(form.text)![1]!;
    const signIn = (key: string) =>
      api.call('POST', '/supervisor/session', {
        body: `key=${encodeURIComponent(key)}&form_token=${token}&lang=en`,
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          cookie: formCookie,
          origin: 'https://certmark.test',
        },
      });
    const wrongRole = await signIn(ctx.adminKey);
    expect(wrongRole.status).toBe(403);
    expect(wrongRole.text).toContain('This page is for supervisor keys.');
    expect(wrongRole.headers.get('set-cookie')).toBeNull();
    expect((await signIn('cm_nope')).status).toBe(401);
    const signedIn = await signIn(supervisor);
    expect(signedIn.status).toBe(303);
    // The language chosen on the sign-in page is kept.
    expect(signedIn.headers.get('location')).toBe('/supervisor?lang=en');
    expect(signedIn.headers.get('referrer-policy')).toBe('no-referrer');
    const cookie = signedIn.headers.get('set-cookie')!.split(';')[0]!;
    expect(cookie).not.toContain(supervisor.slice(3));
    expect((await api.get('/supervisor', undefined, { cookie })).status).toBe(200);
    // A forged or tampered session is refused.
    expect((await api.get('/supervisor', undefined, { cookie: `${cookie}x` })).status).toBe(401);
  });

  describe.skipIf(!browserAvailable)('in a browser', () => {
    let server: Listening;
    let browser: Browser;

    beforeAll(async () => {
      fs.mkdirSync(SCREENSHOTS, { recursive: true });
      server = await listen(ctx.app);
      browser = await launchChromium();
    });
    afterAll(async () => {
      await browser?.close();
      await server?.close();
    });

    /**
     * Opens the console as a signed-in supervisor, with every request to another host refused
     * and recorded, and waits until every chart is drawn.
     */
    async function open(url: string, viewport: { width: number; height: number }) {
      const context = await browser.newContext({
        viewport,
        locale: 'zh-CN',
        extraHTTPHeaders: { authorization: `Bearer ${supervisor}` },
      });
      const page = await context.newPage();
      const elsewhere: string[] = [];
      const served: string[] = [];
      await page.route('**/*', (route) => {
        const target = route.request().url();
        if (new URL(target).origin !== server.url) {
          elsewhere.push(target);
          return route.abort();
        }
        served.push(new URL(target).pathname);
        return route.continue();
      });
      const errors: string[] = [];
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      page.on('pageerror', (e) => errors.push(e.message));
      const res = await page.goto(server.url + url);
      expect(res?.status()).toBe(200);
      await page.waitForSelector('html[data-charts-drawn]', { state: 'attached' });
      return { page, elsewhere, served, errors };
    }

    /** Whether a chart's canvas has been painted with more than its background. */
    const painted = (page: Page, selector: string) =>
      page
        .locator(`${selector} canvas`)
        .first()
        .evaluate((canvas: HTMLCanvasElement) => {
          const pixels = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
          const colours = new Set<number>();
          for (let i = 0; i < pixels.data.length; i += 4 * 97) {
            colours.add((pixels.data[i]! << 16) | (pixels.data[i + 1]! << 8) | pixels.data[i + 2]!);
          }
          return colours.size;
        });

    it('signs in with the form (a session cookie, never the key), groups alerts by severity, filters', async () => {
      const page = await browser.newPage({
        viewport: { width: 1280, height: 900 },
        locale: 'zh-CN',
      });
      const anonymous = await page.goto(`${server.url}/supervisor`);
      expect(anonymous?.status()).toBe(401);
      await page.fill('input[name="key"]', supervisor);
      await Promise.all([
        page.waitForURL(`${server.url}/supervisor`),
        page.click('form.sign-in button[type="submit"]'),
      ]);
      const cookie = (await page.context().cookies()).find((c) => c.name === 'certmark_supervisor');
      expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/supervisor' });
      expect(cookie!.value).not.toContain(supervisor.slice(3));

      const forged = page.locator('section[data-severity="forged"] tr.alert');
      expect(await forged.count()).toBe(1);
      expect(await forged.first().getAttribute('data-reason')).toBe('BAD_SIGNATURE');
      expect(await forged.first().innerText()).toContain('Fujian <Certification> & Co.');
      expect(
        await page
          .locator('section.severity')
          .evaluateAll((s) => s.map((e) => e.getAttribute('data-severity'))),
      ).toEqual(['forged', 'misused', 'suspicious']);
      // Details open; injected context (the first finding's and the latest repeat's) is shown as
      // text, never run.
      await forged.first().locator('xpath=following-sibling::tr[1]').locator('summary').click();
      expect(await page.locator('pre', { hasText: '<script>alert(1)</script>' }).count()).toBe(2);
      expect(await page.locator('#summary').innerText()).toMatch(/35 福建/);

      await page.selectOption('select[name="reason"]', 'HOLDER_MISMATCH');
      await Promise.all([
        page.waitForURL(/reason=HOLDER_MISMATCH/),
        page.click('form.filters button[type="submit"]'),
      ]);
      expect(await page.locator('tr.alert').count()).toBe(1);
      expect(await page.locator('section[data-severity="misused"] tr.alert').count()).toBe(1);
      await page.context().close();
    });

    it('draws the map, the trend and the clone’s checks in Chinese, with nothing from another host', async () => {
      const { page, elsewhere, served, errors } = await open('/supervisor', {
        width: 1280,
        height: 900,
      });
      expect(readable(await page.locator('header h1').textContent())).toBe(
        'certmark · 市场监管控制台',
      );
      // The charts describe what they draw (ECharts' aria labels): the provinces and their counts.
      const mapLabel = (await page.locator('#alert-map').getAttribute('aria-label')) ?? '';
      expect(mapLabel).toContain('福建');
      expect(mapLabel).toContain('伪造');
      for (const selector of ['#alert-map', '#trend', `[data-clone-map="${cloneSerial}"]`]) {
        expect(await painted(page, selector), selector).toBeGreaterThan(5);
      }
      expect(
        (await page.locator(`figure[data-serial="${cloneSerial}"] ol.checks li`).allTextContents())
          .map(readable)
          .map((line) => line.split(' · ')[1]),
      ).toEqual(['福建 (350100)', '北京 (110105)', '广东 (440300)', '广东 (440300)']);
      await page.screenshot({
        path: path.join(SCREENSHOTS, 'supervisor-console-zh.png'),
        fullPage: true,
      });
      expect(served).toContain('/supervisor/assets/console.js');
      expect(elsewhere).toEqual([]);
      expect(errors).toEqual([]);
      await page.context().close();
    });

    it('switches to English and keeps the charts', async () => {
      const { page, elsewhere, errors } = await open('/supervisor', { width: 1280, height: 900 });
      await Promise.all([
        page.waitForURL(/lang=en/),
        page.getByRole('link', { name: 'English' }).click(),
      ]);
      await page.waitForSelector('html[data-charts-drawn]', { state: 'attached' });
      expect(await page.locator('html').getAttribute('lang')).toBe('en');
      expect(readable(await page.locator('header h1').textContent())).toBe(
        'certmark · Supervision console',
      );
      expect(readable(await page.locator('#map-card h2').textContent())).toBe('Alerts by province');
      expect(await painted(page, '#alert-map')).toBeGreaterThan(5);
      await page.screenshot({
        path: path.join(SCREENSHOTS, 'supervisor-console-en.png'),
        fullPage: true,
      });
      expect(elsewhere).toEqual([]);
      expect(errors).toEqual([]);
      await page.context().close();
    });

    it('fits a 360-pixel phone: no sideways scrolling, alerts as cards', async () => {
      const { page, elsewhere, errors } = await open('/supervisor?status=all', {
        width: 360,
        height: 740,
      });
      expect(
        await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth),
      ).toBeLessThanOrEqual(0);
      const map = await page.locator('#alert-map').boundingBox();
      expect(map!.width).toBeGreaterThan(250);
      expect(map!.x + map!.width).toBeLessThanOrEqual(360);
      expect(await painted(page, '#alert-map')).toBeGreaterThan(5);
      // Each alert's header row is a card: its cells one under another, labelled.
      const row = page.locator('section[data-severity="misused"] tr.alert').first();
      expect(await row.evaluate((el) => getComputedStyle(el).display)).toBe('block');
      await page.screenshot({
        path: path.join(SCREENSHOTS, 'supervisor-console-zh-360.png'),
        fullPage: true,
      });
      expect(elsewhere).toEqual([]);
      expect(errors).toEqual([]);
      await page.context().close();
    });
  });
});
