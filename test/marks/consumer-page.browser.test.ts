import fs from 'node:fs';
import path from 'node:path';
import { decodeJwt } from 'jose';
import type { Browser } from 'playwright-core';
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
import { createIssuer, createRoleKey, issueCertificate, type IssuerFixture } from '../fixtures';
import { issueMarks, tamperCode, type IssuedMark } from './mark-helpers';

/**
 * The consumer's page for a scanned mark (GET /m/{code}) and a certificate (GET /c/{id}): what the
 * server sends (languages, JSON, escaping, CSP), then what a person sees on a 360-pixel phone in a
 * real browser (Debian's Chromium driven by playwright-core). Screenshots go to test-output/.
 */
const browserAvailable = hasChromium('consumer page browser test');
const SCREENSHOTS = path.resolve('test-output/consumer-page');
/** What a person reads: white space as the browser collapses it. */
const readable = (text: string | null) => (text ?? '').replace(/\s+/g, ' ').trim();

describe('consumer pages', () => {
  let ctx: TestContext;
  let api: Client;
  let issuer: IssuerFixture;
  let cert: { id: string; number: string };
  let marks: IssuedMark[];

  beforeAll(async () => {
    ctx = await createTestContext();
    api = client(ctx.app);
    issuer = await createIssuer(ctx);
    cert = await issueCertificate(api, issuer.key, {
      holder: { name: 'Example <img src=x onerror=alert(1)> & Co.', uscc: '914403001922038216' },
    });
    ({ marks } = await issueMarks(api, issuer.key, cert.id, { count: 7, model: 'X1-100' }));
  });
  afterAll(async () => {
    await ctx.services.marks.close();
    await ctx.services.markVerification.close();
    await ctx.close();
  });

  describe('as served', () => {
    it('is Chinese by default, English by Accept-Language or ?lang=en, escaped, under a strict CSP', async () => {
      const zh = await api.get(`/m/${marks[0]!.code}`);
      expect(zh.status).toBe(200);
      expect(zh.headers.get('content-type')).toMatch(/^text\/html/);
      expect(zh.text).toContain('<html lang="zh-CN">');
      expect(zh.text).toContain('<h1>正品</h1>');
      expect(zh.text).toContain('name="viewport" content="width=device-width, initial-scale=1"');
      expect(zh.text).toContain('Example &lt;img src=x onerror=alert(1)&gt; &amp; Co.');
      expect(zh.text).not.toContain('<img');
      const csp = zh.headers.get('content-security-policy')!;
      expect(csp).toContain("default-src 'none'");
      const nonce = /script-src 'nonce-([^']+)'/.exec(csp)![1]!;
      expect(zh.text).toContain(`<script nonce="${nonce}">`);

      const en = await api.get(`/m/${marks[0]!.code}`, undefined, {
        'accept-language': 'en-GB,en;q=0.9,zh;q=0.5',
      });
      expect(en.text).toContain('<html lang="en">');
      expect(en.text).toContain('<h1>Genuine</h1>');
      expect((await api.get(`/m/${marks[0]!.code}?lang=en`)).text).toContain('<h1>Genuine</h1>');
      const zhPreferred = await api.get(`/m/${marks[0]!.code}`, undefined, {
        'accept-language': 'zh-CN,zh;q=0.9,en;q=0.8',
      });
      expect(zhPreferred.text).toContain('<h1>正品</h1>');
    });

    it('answers JSON with Accept: application/json, at /M/ and in any case, and counts each view', async () => {
      const mark = marks[1]!;
      const first = await api.get(`/M/${mark.code}`, undefined, { accept: 'application/json' });
      expect(first.body).toMatchObject({
        verdict: 'authentic',
        mark: { serial: mark.serial, scanCount: 1 },
      });
      const second = await api.get(`/m/${mark.code.toLowerCase()}?region=350100`, undefined, {
        accept: 'application/json',
      });
      expect(second.body.mark.scanCount).toBe(2);
      await ctx.services.markVerification.flushScanLog();
      const log = await api.get(`/v1/marks/${mark.serial}/scans`, issuer.key);
      expect(
        log.body.items.map((e: { channel: string; region: string | null }) => [
          e.channel,
          e.region,
        ]),
      ).toEqual([
        ['page', '350100'],
        ['page', null],
      ]);
    });

    it('shows a forged code as forged, and a mistyped serial as a typing error (422)', async () => {
      const forged = await api.get(`/m/${tamperCode(marks[0]!.code, 70, 4)}`);
      expect(forged.status).toBe(200);
      expect(forged.text).toContain('<h1>伪造</h1>');
      expect(forged.text).toContain('data-code="BAD_SIGNATURE"');
      const serial = marks[0]!.serial;
      const typo = await api.get(`/m/${serial.slice(0, 15)}${(Number(serial[15]) + 1) % 10}`);
      expect(typo.status).toBe(422);
      expect(typo.text).toContain('序列号有误');
    });

    it('serves the offline page with the published keys escaped into it, under the same CSP', async () => {
      const hostileName = 'Body </script><script>alert(1)</script> & Co';
      const hostile = await createIssuer(ctx, { name: hostileName });
      const res = await api.get('/verify/offline?lang=en');
      expect(res.status).toBe(200);
      expect(res.text).toContain('<h1>Offline check</h1>');
      expect(res.text).not.toContain('<script>alert(1)');
      const csp = res.headers.get('content-security-policy')!;
      const nonce = /script-src 'nonce-([^']+)'/.exec(csp)![1]!;
      expect(res.text).toContain(`<script nonce="${nonce}">`);
      const embedded =
        /<script type="application\/json" id="certmark-bundle">([^<]*)<\/script>/.exec(
          res.text,
        )![1]!;
      // The page carries an offline bundle; its keys are the published ones.
      const bundle = JSON.parse(embedded) as string;
      const jwks = (decodeJwt(bundle) as { jwks: { keys: { kid: string; issuerName: string }[] } })
        .jwks;
      expect(jwks.keys).toContainEqual(
        expect.objectContaining({ kid: hostile.kid, issuerName: hostileName }),
      );
      expect(jwks.keys).toContainEqual(expect.objectContaining({ kid: issuer.kid }));
      expect(JSON.stringify(jwks)).not.toMatch(/"d"/);
    });

    it('shows a certificate’s verdict at /c/{id}, in words about a certificate', async () => {
      const page = await api.get(`/c/${cert.id}?lang=en`);
      expect(page.status).toBe(200);
      expect(page.text).toContain('<h1>Genuine</h1>');
      expect(page.text).toContain('This certificate is genuine and valid');
      expect(page.text).not.toMatch(/this mark/i);
      expect(page.text).toContain(cert.number);
      const zh = await api.get(`/c/${cert.id}`);
      expect(zh.text).toContain('<h1>真实有效</h1>');
      expect(zh.text).toContain('该证书真实有效');
      expect(zh.text).not.toContain('该标志');
      const json = await api.get(`/c/${cert.id}`, undefined, { accept: 'application/json' });
      expect(json.body).toMatchObject({ verdict: 'authentic', certificate: { id: cert.id } });
      expect((await api.get(`/c/${crypto.randomUUID()}`)).text).toContain('<h1>伪造</h1>');
      expect((await api.get(`/c/nonsense`)).text).toContain('<h1>伪造</h1>');
    });

    it('answers a link it cannot read with a page, still refused, and an API caller with a problem', async () => {
      const browserAccept = { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' };
      for (const link of ['/m/%00', `/m/${'A'.repeat(5_000)}`, `/c/${'x'.repeat(300)}`, '/c/%00']) {
        const res = await api.get(link, undefined, browserAccept);
        expect(res.status).toBe(400);
        expect(res.headers.get('content-type')).toMatch(/^text\/html/);
        expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
        expect(res.text).toContain('<h1>伪造</h1>');
        expect(res.text).toContain('id="report"');
        const json = await api.get(link, undefined, { accept: 'application/json' });
        expect(json.status).toBe(400);
        expect(json.headers.get('content-type')).toBe('application/problem+json');
        expect(json.body.code).toBe('validation_failed');
      }
      // A genuine link with a query the page cannot read (a tracking tag, GBK-encoded words, a
      // NUL) is its page all the same: what it cannot use is ignored.
      for (const query of ['?utm=%FF', '?region=%00', '?from=%C9%CF%BA%A3', '?lang=en&x=%E4']) {
        for (const link of [`/m/${marks[0]!.code}`, `/c/${cert.id}`]) {
          const res = await api.get(link + query, undefined, browserAccept);
          expect(res.status).toBe(200);
          expect(res.text).toMatch(/<h1>(正品|Genuine|真实有效)<\/h1>/);
        }
      }
    });

    it('says since when and why a certificate is suspended, in the issuer’s words, escaped', async () => {
      const suspended = await issueCertificate(api, issuer.key);
      const changed = await api.post(
        `/v1/certificates/${suspended.id}/status`,
        {
          status: 'suspended',
          reason: '监督抽查不合格 <b>X1</b>',
          signatory: { name: '李四' },
        },
        issuer.key,
      );
      expect(changed.status, changed.text).toBe(200);
      const zh = await api.get(`/c/${suspended.id}`);
      expect(zh.text).toContain('<h1>无效</h1>');
      expect(zh.text).toMatch(/自\s+2026-11-24 18:00 \(北京时间\)起/);
      expect(zh.text).toContain('原因：监督抽查不合格 &lt;b&gt;X1&lt;/b&gt;');
      const en = await api.get(`/c/${suspended.id}?lang=en`);
      expect(en.text).toContain('reason: 监督抽查不合格 &lt;b&gt;X1&lt;/b&gt;');
      // A valid certificate has no such line.
      expect((await api.get(`/c/${cert.id}`)).text).not.toContain('原因：');
    });
  });

  describe.skipIf(!browserAvailable)('in a browser on a phone', () => {
    let server: Listening;
    let base: string;
    let browser: Browser;

    beforeAll(async () => {
      fs.mkdirSync(SCREENSHOTS, { recursive: true });
      server = await listen(ctx.app);
      base = server.url;
      browser = await launchChromium();
    });
    afterAll(async () => {
      await browser?.close();
      await server?.close();
    });

    /** Opens a page as a phone would and returns what a person sees at the top. */
    async function look(url: string, screenshot: string) {
      const page = await browser.newPage({
        viewport: { width: 360, height: 740 },
        locale: 'zh-CN',
      });
      const errors: string[] = [];
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      await page.goto(base + url);
      const banner = page.locator('section.verdict');
      const seen = {
        page,
        title: readable(await banner.locator('h1').textContent()),
        className: await banner.getAttribute('class'),
        background: await banner.evaluate((el) => getComputedStyle(el).backgroundColor),
        reasons: (await page.locator('#reasons li').allTextContents()).map(readable),
        // Nothing wider than the phone: no sideways scrolling.
        overflow: await page.evaluate(
          () => document.documentElement.scrollWidth - window.innerWidth,
        ),
        errors,
      };
      await page.screenshot({ path: path.join(SCREENSHOTS, `${screenshot}.png`), fullPage: true });
      return seen;
    }

    it('shows a genuine mark as 正品 in green, with the certificate and the first check', async () => {
      const seen = await look(`/m/${marks[2]!.code}`, 'genuine');
      expect(seen.title).toBe('正品');
      expect(seen.className).toContain('verdict-authentic');
      expect(seen.background).toBe('rgb(26, 127, 55)');
      expect(seen.reasons).toEqual([]);
      expect(seen.overflow).toBeLessThanOrEqual(0);
      expect(seen.errors).toEqual([]);
      expect(readable(await seen.page.locator('#certificate').textContent())).toContain(
        'China Quality Certification Centre',
      );
      expect(readable(await seen.page.locator('#first-scan').textContent())).toBe('这是首次查验');
      // The language switch: the same person looking again, so the mark is not checked twice.
      await seen.page.getByRole('link', { name: 'English' }).click();
      await seen.page.waitForURL(/lang=en/);
      expect(readable(await seen.page.locator('section.verdict h1').textContent())).toBe('Genuine');
      expect(readable(await seen.page.locator('#scan-count').textContent())).toBe('1');
      expect(readable(await seen.page.locator('#first-scan').textContent())).toBe(
        'This is the first check',
      );
      await seen.page.reload();
      expect(readable(await seen.page.locator('#scan-count').textContent())).toBe('1');
      // Someone else (another browser) is a second check, and sees the first.
      const other = await look(`/m/${marks[2]!.code}?lang=en`, 'genuine-second-person');
      expect(readable(await other.page.locator('#scan-count').textContent())).toBe('2');
      expect(readable(await other.page.locator('#first-scan').textContent())).toMatch(
        /^2026-11-24 18:00 China Standard Time/,
      );
      await other.page.close();
      await seen.page.close();
    });

    it('fits a phone at 200 % zoom (188 CSS pixels): no sideways scrolling, the verdict whole', async () => {
      const suspicious = marks[6]!;
      for (let i = 0; i < 21; i++) await api.post('/v1/verify/mark', { code: suspicious.code });
      // An issuer's reason with a long unbroken token (a link) wraps too.
      const suspended = await issueCertificate(api, issuer.key);
      await api.post(
        `/v1/certificates/${suspended.id}/status`,
        {
          status: 'suspended',
          reason: `见通知https://www.samr.gov.cn/rzjgs/tzgg/art/2026/art_${'0123456789abcdef'.repeat(3)}.html`,
          signatory: { name: '李四' },
        },
        issuer.key,
      );
      const pages = [
        `/c/${suspended.id}?lang=en`,
        `/c/${suspended.id}`,
        `/m/${suspicious.code}?lang=en`,
        `/m/${suspicious.code}`,
        `/m/${marks[4]!.code}?lang=en`,
        `/c/${cert.id}?lang=en`,
        `/c/${cert.id}`,
        '/verify/offline?lang=en',
        '/verify/offline',
      ];
      for (const url of pages) {
        const page = await browser.newPage({ viewport: { width: 188, height: 370 } });
        await page.goto(base + url);
        const fits = await page.evaluate(() => ({
          page: document.documentElement.scrollWidth - window.innerWidth,
          verdict: (() => {
            const h1 = document.querySelector('section.verdict h1')!;
            return h1.scrollWidth - h1.clientWidth;
          })(),
          // The verdict's words are whole: one line each, none broken inside.
          brokenWords: (() => {
            const h1 = document.querySelector('section.verdict h1')!;
            const lineHeight = parseFloat(getComputedStyle(h1).lineHeight);
            return h1.textContent!.trim().includes(' ')
              ? 0
              : Math.round(h1.clientHeight / lineHeight) - 1;
          })(),
        }));
        expect({ url, ...fits }).toEqual({ url, page: 0, verdict: 0, brokenWords: 0 });
        await page.close();
      }
    });

    it('shows a forged mark as 伪造 in red, and lets the person report it', async () => {
      const forgedCode = tamperCode(marks[3]!.code, 60, 1);
      const seen = await look(`/m/${forgedCode}`, 'forged');
      expect(seen.title).toBe('伪造');
      expect(seen.className).toContain('verdict-forged');
      expect(seen.background).toBe('rgb(180, 35, 24)');
      expect(seen.reasons).toEqual(['数字签名不正确。']);
      expect(seen.overflow).toBeLessThanOrEqual(0);
      await seen.page.fill('#report-description', '在市场买到的，标签模糊');
      // Six digits, but no division: refused, and the person is told what to check, not to wait.
      await seen.page.fill('#report-region', '999999');
      await seen.page.click('#report button[type=submit]');
      await expect
        .poll(() => seen.page.locator('#report-result').textContent())
        .toContain('请检查地区代码');
      await seen.page.fill('#report-region', '350100');
      await seen.page.click('#report button[type=submit]');
      await expect
        .poll(() => seen.page.locator('#report-result').textContent())
        .toBe('已收到您的举报，谢谢。');
      // The browser's own line for the refused attempt is the only console error.
      expect(seen.errors.filter((e) => !e.includes('status of 400'))).toEqual([]);
      await seen.page.close();
      // Without JavaScript the form is not offered (its plain submit put the report in the page's
      // address and sent it nowhere); the page says what reporting needs.
      const noScript = await browser.newPage({ javaScriptEnabled: false });
      await noScript.goto(`${base}/m/${forgedCode}?lang=en`);
      expect(await noScript.locator('#report').isVisible()).toBe(false);
      expect(await noScript.locator('#report-card').textContent()).toContain(
        'Reporting needs JavaScript',
      );
      await noScript.close();
    });

    it('offers the report form it promises on an unknown certificate link, and files the report', async () => {
      const unknownId = crypto.randomUUID();
      const seen = await look(`/c/${unknownId}`, 'certificate-unknown');
      expect(seen.title).toBe('伪造');
      expect(readable(await seen.page.locator('section.verdict p').textContent())).toContain(
        '无法证实该证书由认证机构签发',
      );
      expect(seen.overflow).toBeLessThanOrEqual(0);
      await seen.page.fill('#report-description', '产品上的证书二维码打开后查无此证');
      await seen.page.click('#report button[type=submit]');
      await expect
        .poll(() => seen.page.locator('#report-result').textContent())
        .toBe('已收到您的举报，谢谢。');
      expect(seen.errors).toEqual([]);
      await seen.page.close();
      const supervisor = await createRoleKey(ctx, 'supervisor');
      const alerts = await api.get('/v1/alerts?reason=REPORTED', supervisor);
      expect(alerts.body.items).toContainEqual(
        expect.objectContaining({ subjectType: 'code', subject: `certificate:${unknownId}` }),
      );
      // A link with no id at all still offers the form (a report in words alone).
      const nonsense = await api.get('/c/nonsense');
      expect(nonsense.text).toContain('id="report"');
      expect(nonsense.text).not.toContain('name="certificateId"');
    });

    it('shows a voided mark as 无效', async () => {
      const mark = marks[4]!;
      await api.post(`/v1/marks/${mark.serial}/void`, { reason: 'recalled' }, issuer.key);
      const seen = await look(`/m/${mark.code}`, 'voided');
      expect(seen.title).toBe('无效');
      expect(seen.className).toContain('verdict-invalid');
      expect(seen.reasons).toEqual(['该标志已被认证机构作废（销毁、召回或遗失）。']);
      await seen.page.close();
    });

    it('checks marks in the browser with no network on /verify/offline, and so does a saved copy', async () => {
      const page = await browser.newPage({
        viewport: { width: 360, height: 740 },
        locale: 'zh-CN',
      });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      // The page judges its bundle's age by the browser's clock: the service's (fixed) time here.
      await page.clock.setFixedTime(ctx.clock.now());
      await page.goto(`${base}/verify/offline`);
      const requests: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      await page.context().setOffline(true);
      const banner = page.locator('section.verdict');
      const check = async (input: string) => {
        await page.fill('#offline-code', input);
        await page.click('#offline-check button[type=submit]');
        return {
          verdict: await banner.getAttribute('data-verdict'),
          text: readable(await banner.textContent()),
        };
      };
      const genuine = await check(marks[0]!.url.toLowerCase());
      expect(genuine.verdict).toBe('authentic');
      expect(genuine.text).toContain('签名真实');
      expect(genuine.text).toContain('China Quality Certification Centre');
      expect(genuine.text).toContain(marks[0]!.serial);
      await page.screenshot({
        path: path.join(SCREENSHOTS, 'offline-genuine.png'),
        fullPage: true,
      });
      expect(await check(tamperCode(marks[0]!.code, 70, 4))).toMatchObject({
        verdict: 'forged',
        text: expect.stringContaining('数字签名不正确。'),
      });
      expect((await check('not a mark')).verdict).toBe('forged');
      expect(await check(marks[0]!.serial)).toMatchObject({
        verdict: 'check',
        text: expect.stringContaining('无法离线核验'),
      });
      expect(requests).toEqual([]);

      // A copy saved to disk: the same page with nothing served, still offline.
      const saved = await page.content();
      const copy = await browser.newPage();
      await copy.clock.setFixedTime(ctx.clock.now());
      await copy.context().setOffline(true);
      await copy.setContent(saved);
      await copy.fill('#offline-code', marks[1]!.code);
      await copy.click('#offline-check button[type=submit]');
      expect(await copy.locator('section.verdict').getAttribute('data-verdict')).toBe('authentic');
      expect(errors).toEqual([]);
      await copy.close();
      await page.close();
    });

    it('shows a cloned mark as 可疑 in amber, with where it was first checked', async () => {
      const mark = marks[5]!;
      await api.post('/v1/verify/mark', { code: mark.code, location: { region: '350100' } });
      ctx.clock.advance(3_600_000);
      for (let i = 0; i < 20; i++) await api.post('/v1/verify/mark', { code: mark.code });
      const seen = await look(`/m/${mark.code}`, 'cloned');
      expect(seen.title).toBe('可疑');
      expect(seen.className).toContain('verdict-suspicious');
      expect(seen.background).toBe('rgb(161, 98, 7)');
      expect(readable(await seen.page.locator('#scan-count').textContent())).toBe('22');
      expect(readable(await seen.page.locator('#first-scan').textContent())).toBe(
        '2026-11-24 18:00 (北京时间), 福建 (350100)',
      );
      await seen.page.close();
    });
  });
});
