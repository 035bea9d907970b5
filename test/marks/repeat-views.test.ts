import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, createTestContext, type Client, type TestContext } from '../helpers';
import { createIssuer, createRoleKey, issueCertificate, type IssuerFixture } from '../fixtures';
import { issueMarks, type IssuedMark } from './mark-helpers';

/**
 * Scans that count people: one browser looking at one mark's page again within the window counts
 * once toward the scan count and the clone thresholds, and every view is still logged. The browser
 * is a cookie jar here (what a browser keeps between page loads); the API counts as before.
 */
describe('repeat views of a mark’s page', () => {
  let ctx: TestContext;
  let api: Client;
  let issuer: IssuerFixture;
  let marks: IssuedMark[];

  beforeAll(async () => {
    ctx = await createTestContext({ CLONE_MAX_SCANS: '3' });
    api = client(ctx.app);
    issuer = await createIssuer(ctx);
    const cert = await issueCertificate(api, issuer.key);
    ({ marks } = await issueMarks(api, issuer.key, cert.id, { count: 6 }));
  });
  afterAll(async () => {
    await ctx.services.marks.close();
    await ctx.services.markVerification.close();
    await ctx.close();
  });

  /** A browser: sends back the cookies it was given. */
  function browser() {
    let cookie: string | undefined;
    return async (path: string) => {
      const res = await api.get(path, undefined, {
        accept: 'application/json',
        ...(cookie ? { cookie } : {}),
      });
      const set = res.headers.get('set-cookie');
      if (set) cookie = set.split(';')[0];
      return { ...res, setCookie: set };
    };
  }

  it('counts a reload and a language switch once, logs all three, and sets a first-party cookie', async () => {
    const mark = marks[0]!;
    const open = browser();
    const first = await open(`/m/${mark.code}`);
    expect(first.body.mark.scanCount).toBe(1);
    expect(first.setCookie).toMatch(/^cm_views=[A-Za-z0-9_-]+; Max-Age=86400; Path=\//);
    expect(first.setCookie).toContain('HttpOnly');
    expect(first.setCookie).toContain('Secure');
    expect(first.setCookie).toContain('SameSite=Lax');
    const reload = await open(`/m/${mark.code}`);
    const switched = await open(`/M/${mark.code}?lang=en`);
    expect([reload.body.mark.scanCount, switched.body.mark.scanCount]).toEqual([1, 1]);
    expect(reload.setCookie).toBeNull();

    await ctx.services.markVerification.flushScanLog();
    const supervisor = await createRoleKey(ctx, 'supervisor');
    const history = await api.get(`/v1/marks/${mark.serial}/scans`, supervisor);
    // Newest first.
    expect(
      history.body.items.map((i: { channel: string; counted: boolean; verdict: string }) => [
        i.channel,
        i.counted,
        i.verdict,
      ]),
    ).toEqual([
      ['page', false, 'authentic'],
      ['page', false, 'authentic'],
      ['page', true, 'authentic'],
    ]);
  });

  it('answers HEAD as a repeat view: never counted, so previewers cannot flag a mark as cloned', async () => {
    const mark = marks[4]!;
    for (let i = 0; i < 5; i++) {
      const head = await ctx.app.request(`/m/${mark.code}`, { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(head.headers.get('content-type')).toContain('text/html');
      expect(head.headers.get('set-cookie')).toBeNull();
      expect(await head.text()).toBe('');
    }
    const scanned = await api.post('/v1/verify/mark', { code: mark.code });
    expect(scanned.body).toMatchObject({ verdict: 'authentic', mark: { scanCount: 1 } });
  });

  it('does not count what a browser loads for another page, nor a prefetch; a navigation counts', async () => {
    const mark = marks[5]!;
    const embedded: Record<string, string>[] = [
      { 'sec-fetch-dest': 'image', 'sec-fetch-mode': 'no-cors', 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-dest': 'empty', 'sec-fetch-mode': 'cors', 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-dest': 'script', 'sec-fetch-mode': 'no-cors', 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-dest': 'document', 'sec-purpose': 'prefetch;prerender' },
      { purpose: 'prefetch' },
    ];
    for (const headers of embedded) {
      const view = await api.get(`/m/${mark.code}`, undefined, {
        accept: 'application/json',
        ...headers,
      });
      expect(view.status).toBe(200);
      // Answered, as a view that counts nothing: the mark has no counted scan yet.
      expect(view.body).toMatchObject({ verdict: 'authentic', mark: { scanCount: 0 } });
      expect(view.headers.get('set-cookie')).toBeNull();
    }
    const navigation = await api.get(`/m/${mark.code}`, undefined, {
      accept: 'application/json',
      'sec-fetch-dest': 'document',
      'sec-fetch-mode': 'navigate',
      'sec-fetch-site': 'none',
    });
    expect(navigation.body.mark.scanCount).toBe(1);
    // A client that sends no Fetch Metadata (an app, a script) counts as before.
    expect((await browser()(`/m/${mark.code}`)).body.mark.scanCount).toBe(2);
  });

  it('takes the place in the link only from a scan that no other site sent', async () => {
    const firstScanOf = async (mark: IssuedMark, headers: Record<string, string>) => {
      const view = await api.get(`/m/${mark.code}?region=110000&lat=39.9&lon=116.4`, undefined, {
        accept: 'application/json',
        'sec-fetch-dest': 'document',
        'sec-fetch-mode': 'navigate',
        ...headers,
      });
      expect(view.body.mark.scanCount).toBe(1);
      return view.body.mark.firstScan as { region: string | null };
    };
    // A link on another site: counted, but its place is not the scanner's to give.
    const [fromElsewhere, opened] = (
      await issueMarks(api, issuer.key, (await issueCertificate(api, issuer.key)).id, { count: 2 })
    ).marks;
    expect(await firstScanOf(fromElsewhere!, { 'sec-fetch-site': 'cross-site' })).toMatchObject({
      region: null,
    });
    // Opened by a scanning app (or typed): its place is taken.
    expect(await firstScanOf(opened!, { 'sec-fetch-site': 'none' })).toMatchObject({
      region: '110000',
    });
  });

  it('counts other browsers, the API, and the same browser again after the window', async () => {
    const mark = marks[1]!;
    const mine = browser();
    expect((await mine(`/m/${mark.code}`)).body.mark.scanCount).toBe(1);
    expect((await browser()(`/m/${mark.code}`)).body.mark.scanCount).toBe(2);
    const viaApi = await api.post('/v1/verify/mark', { code: mark.code });
    expect(viaApi.body.mark.scanCount).toBe(3);
    expect((await mine(`/m/${mark.code}`)).body.mark.scanCount).toBe(3);
    ctx.clock.advance(24 * 3_600_000);
    const later = await mine(`/m/${mark.code}`);
    expect(later.body.mark.scanCount).toBe(4);
    expect(later.setCookie).toMatch(/^cm_views=/);
  });

  it('keeps one buyer’s reloads away from the clone threshold, which other buyers still reach', async () => {
    const mark = marks[2]!;
    const buyer = browser();
    for (let i = 0; i < 10; i++) {
      const view = await buyer(`/m/${mark.code}`);
      expect(view.body).toMatchObject({ verdict: 'authentic', mark: { scanCount: 1 } });
    }
    // Three more people (CLONE_MAX_SCANS is 3 here): the fourth counted view is a suspected clone.
    for (let i = 0; i < 2; i++) await browser()(`/m/${mark.code}`);
    const fourth = await browser()(`/m/${mark.code}`);
    expect(fourth.body).toMatchObject({ verdict: 'suspicious', mark: { scanCount: 4 } });
    // The first buyer now sees the flag too, still without counting, and raises no second sighting.
    const alerts = async () =>
      (
        await api.get('/v1/alerts?reason=SUSPECTED_CLONE', await createRoleKey(ctx, 'supervisor'))
      ).body.items.filter((a: { subject: string }) => a.subject === mark.serial);
    const before = await alerts();
    expect(before).toHaveLength(1);
    const again = await buyer(`/m/${mark.code}`);
    expect(again.body).toMatchObject({ verdict: 'suspicious', mark: { scanCount: 4 } });
    const after = await alerts();
    expect(after[0].count).toBe(before[0].count);
  });

  it('counts a view whose cookie was tampered with, and every view when the window is 0', async () => {
    const mark = marks[3]!;
    const open = browser();
    const first = await open(`/m/${mark.code}`);
    const value = first.setCookie!.split(';')[0]!.slice('cm_views='.length);
    const tampered = `cm_views=${value.slice(0, -2)}${value.endsWith('AA') ? 'AB' : 'AA'}`;
    const res = await api.get(`/m/${mark.code}`, undefined, {
      accept: 'application/json',
      cookie: tampered,
    });
    expect(res.body.mark.scanCount).toBe(2);

    const off = await createTestContext({ SCAN_REPEAT_WINDOW_HOURS: '0' });
    try {
      const offApi = client(off.app);
      const offIssuer = await createIssuer(off);
      const cert = await issueCertificate(offApi, offIssuer.key);
      const [offMark] = (await issueMarks(offApi, offIssuer.key, cert.id, { count: 1 })).marks;
      const a = await offApi.get(`/m/${offMark!.code}`, undefined, { accept: 'application/json' });
      expect(a.headers.get('set-cookie')).toBeNull();
      const b = await offApi.get(`/m/${offMark!.code}`, undefined, { accept: 'application/json' });
      expect(b.body.mark.scanCount).toBe(2);
    } finally {
      await off.services.marks.close();
      await off.services.markVerification.close();
      await off.close();
    }
  });
});
