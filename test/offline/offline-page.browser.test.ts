import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasChromium, launchChromium } from '../browser';
import {
  client,
  createTestContext,
  listen,
  type Client,
  type Listening,
  type TestContext,
} from '../helpers';
import { createIssuer, issueCertificate, type IssuerFixture } from '../fixtures';
import { issueMarks, tamperCode, type IssuedMark } from '../marks/mark-helpers';

/**
 * GET /verify/offline in a real browser (Debian's Chromium, playwright-core) with the network
 * blocked: certificate credentials and marks checked against the bundle the page carries, the age
 * of its status information on every answer, and "status unknown" once the browser's clock is past
 * the bundle's limit.
 */
const browserAvailable = hasChromium('offline page browser test');
const readable = (text: string | null) => (text ?? '').replace(/\s+/g, ' ').trim();

describe.runIf(browserAvailable)('offline verification page', () => {
  let ctx: TestContext;
  let api: Client;
  let server: Listening;
  let browser: Browser;
  let issuer: IssuerFixture;
  let valid: { credential: string; number: string };
  let revoked: { id: string; credential: string };
  let marks: IssuedMark[];

  beforeAll(async () => {
    ctx = await createTestContext();
    api = client(ctx.app);
    issuer = await createIssuer(ctx);
    valid = await issueCertificate(api, issuer.key);
    revoked = await issueCertificate(api, issuer.key);
    await api.post(
      `/v1/certificates/${revoked.id}/status`,
      { status: 'revoked', reason: 'test', signatory: { name: '张三' } },
      issuer.key,
    );
    const cert = await issueCertificate(api, issuer.key);
    ({ marks } = await issueMarks(api, issuer.key, cert.id, { count: 3 }));
    await api.post(`/v1/marks/${marks[1]!.serial}/void`, { reason: 'lost' }, issuer.key);
    server = await listen(ctx.app);
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await ctx.services.marks.close();
    await ctx.close();
  });

  /** The page loaded with the browser's clock at `at`, then cut off from every network. */
  async function offlinePage(
    at: Date,
    lang: 'zh' | 'en' = 'zh',
  ): Promise<{ page: Page; requests: string[]; errors: string[] }> {
    const page = await browser.newPage();
    await page.clock.setFixedTime(at);
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${server.url}/verify/offline?lang=${lang}`);
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.context().setOffline(true);
    await page.route('**/*', (route) => route.abort());
    return { page, requests, errors };
  }

  async function check(page: Page, input: string) {
    await page.fill('#offline-code', input);
    await page.click('#offline-check button[type=submit]');
    const banner = page.locator('section.verdict');
    return {
      verdict: await banner.getAttribute('data-verdict'),
      text: readable(await banner.textContent()),
      age: readable(await page.locator('#offline-age').textContent()),
      fresh: await page.locator('#offline-age').getAttribute('data-fresh'),
    };
  }

  it('checks credentials and marks against the bundle, each answer with the age of its status', async () => {
    const { page, requests, errors } = await offlinePage(
      new Date(ctx.clock.now().getTime() + 2 * 3_600_000),
    );
    const ok = await check(page, valid.credential);
    expect(ok.verdict).toBe('authentic');
    expect(ok.text).toContain('证书有效');
    expect(ok.text).toContain(valid.number);
    expect(ok.age).toBe(
      '状态信息截至 2026-11-24 18:00 (北京时间) · 2小时前 · 有效至 2026-11-25 18:00 (北京时间)',
    );
    expect(ok.fresh).toBe('true');

    expect(await check(page, revoked.credential)).toMatchObject({
      verdict: 'invalid',
      text: expect.stringContaining('证书已被撤销或注销。'),
    });
    const [h, p, s] = valid.credential.split('.');
    expect((await check(page, `${h}.${p}.${s!.slice(0, -4)}AAAA`)).verdict).toBe('forged');
    // A genuine mark says what offline could not check: its certificate's status, clones.
    expect(await check(page, marks[0]!.url)).toMatchObject({
      verdict: 'authentic',
      text: expect.stringContaining('其证书当前是否有效、标志是否被复制，请联网核验'),
    });
    expect(await check(page, marks[1]!.code)).toMatchObject({
      verdict: 'invalid',
      text: expect.stringContaining('作废'),
    });
    expect((await check(page, tamperCode(marks[2]!.code, 70, 4))).verdict).toBe('forged');
    // A loaded file that is not a bundle signed by the page's log key is refused, and the page
    // keeps the bundle it had.
    const [h2, p2] = valid.credential.split('.');
    await page.setInputFiles('#offline-bundle-file', {
      name: 'other.jws',
      mimeType: 'application/jose',
      buffer: Buffer.from(`${h2}.${p2}.AAAA`),
    });
    await expect
      .poll(() => page.locator('section.verdict').getAttribute('data-verdict'))
      .toBe('bundle_refused');
    // In the page's language, the technical reason after it.
    expect(readable(await page.locator('section.verdict').textContent())).toContain(
      '这个文件不是本服务签发、未经改动的离线数据包，未载入。',
    );
    expect((await check(page, valid.credential)).verdict).toBe('authentic');
    expect(requests).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('past the bundle’s limit says “status unknown” in plain words, never genuine, in Chinese and English', async () => {
    const later = new Date(ctx.clock.now().getTime() + 30 * 3_600_000);
    const zh = await offlinePage(later, 'zh');
    for (const input of [valid.credential, marks[0]!.code]) {
      const answer = await check(zh.page, input);
      expect(answer.verdict).toBe('status_unknown');
      expect(answer.text).toContain('状态未知');
      expect(answer.text).toContain('请联网核验');
      expect(answer.age).toContain('· 30小时前 · 已超过时限：状态未知');
      expect(answer.fresh).toBe('false');
    }
    // What the signature alone decides stays decided: a forgery is still forged.
    expect((await check(zh.page, tamperCode(marks[2]!.code, 70, 4))).verdict).toBe('forged');
    expect(zh.errors).toEqual([]);
    await zh.page.close();

    const en = await offlinePage(later, 'en');
    const answer = await check(en.page, valid.credential);
    expect(answer.verdict).toBe('status_unknown');
    expect(answer.text).toContain('Status unknown');
    expect(answer.text).toContain('Check online.');
    expect(answer.age).toContain('· 30 h old · past its limit: status unknown');
    expect(en.requests).toEqual([]);
    await en.page.close();
  });

  it('keeps its bundle when an older one is loaded: no going back to before a void or a revocation', async () => {
    // Saved before marks[2] was voided: loaded into a page that has the newer bundle, it would
    // make the voided mark genuine again (an outside probe).
    const older = await api.get('/v1/offline-bundle');
    expect(older.status).toBe(200);
    ctx.clock.advance(60_000);
    await api.post(`/v1/marks/${marks[2]!.serial}/void`, { reason: 'stolen' }, issuer.key);
    const { page, errors } = await offlinePage(new Date(ctx.clock.now().getTime() + 3_600_000));
    expect((await check(page, marks[2]!.code)).verdict).toBe('invalid');
    await page.setInputFiles('#offline-bundle-file', {
      name: 'older.jws',
      mimeType: 'application/jose',
      buffer: Buffer.from(older.text),
    });
    await expect
      .poll(() => page.locator('section.verdict').getAttribute('data-verdict'))
      .toBe('bundle_refused');
    expect(readable(await page.locator('section.verdict').textContent())).toContain(
      '这个数据包比正在使用的旧',
    );
    expect((await check(page, marks[2]!.code)).verdict).toBe('invalid');
    expect(errors).toEqual([]);
    await page.close();
  });
  it('says so when its checker cannot run (scripts off, or a copy saved without them)', async () => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    await page.goto(`${server.url}/verify/offline?lang=zh`);
    expect(await page.locator('#offline-no-script').isVisible()).toBe(true);
    expect(readable(await page.locator('#offline-no-script').textContent())).toContain(
      '核验程序没有运行',
    );
    await context.close();
    // With scripts, nothing of it shows.
    const { page: running } = await offlinePage(ctx.clock.now());
    expect(await running.locator('#offline-no-script').count()).toBe(0);
    await running.close();
  });
});
