import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, createTestContext, type Client, type TestContext } from '../helpers';
import { createRoleKey } from '../fixtures';

/** The supervisor page's sign-in, sign-out and their CSRF defences, over app.request(). */
describe('supervisor page sessions', () => {
  let ctx: TestContext;
  let api: Client;
  let supervisor: string;
  const origin = 'https://certmark.test';

  beforeAll(async () => {
    ctx = await createTestContext();
    api = client(ctx.app);
    supervisor = await createRoleKey(ctx, 'supervisor');
  });
  afterAll(async () => ctx.close());

  const cookieOf = (res: { headers: Headers }, name: string) =>
    res.headers
      .getSetCookie()
      .map((c) => c.split(';')[0]!)
      .find((c) => c.startsWith(`${name}=`));
  const tokenOf = (text: string) => /name="form_token" value="([^"]+)"/.exec(text)?.[1];

  /** What a browser has after opening the sign-in page: the form cookie and the form's token. */
  async function openSignInPage() {
    const res = await api.get('/supervisor');
    expect(res.status).toBe(401);
    const formCookie = cookieOf(res, 'certmark_supervisor_form');
    const token = tokenOf(res.text);
    expect(formCookie).toBeDefined();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    return { formCookie: formCookie!, token: token! };
  }

  const postForm = (
    path: string,
    fields: Record<string, string>,
    headers: Record<string, string>,
  ) =>
    api.call('POST', path, {
      body: new URLSearchParams(fields).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    });

  async function signIn(key = supervisor) {
    const { formCookie, token } = await openSignInPage();
    const res = await postForm(
      '/supervisor/session',
      { key, form_token: token },
      { cookie: formCookie, origin },
    );
    return { res, formCookie, token, session: cookieOf(res, 'certmark_supervisor') };
  }

  it('signs in from its own form, and the session cookie opens the page', async () => {
    const { res, session } = await signIn();
    expect(res.status).toBe(303);
    expect(session).toBeDefined();
    expect(session).not.toContain(supervisor.slice(3));
    const page = await api.get('/supervisor', undefined, { cookie: session! });
    expect(page.status).toBe(200);
    expect(page.text).toContain('action="/supervisor/sign-out"');
  });

  it('refuses a sign-in POST from another site, without the form token, or with another browser’s token', async () => {
    const { formCookie, token } = await openSignInPage();
    const attempts: [string, Record<string, string>, Record<string, string>][] = [
      [
        'another origin',
        { key: supervisor, form_token: token },
        { cookie: formCookie, origin: 'https://evil.example' },
      ],
      [
        'a cross-site fetch without Origin',
        { key: supervisor, form_token: token },
        { cookie: formCookie, 'sec-fetch-site': 'cross-site' },
      ],
      [
        'Origin: null from a cross-site sandboxed frame',
        { key: supervisor, form_token: token },
        { cookie: formCookie, origin: 'null', 'sec-fetch-site': 'cross-site' },
      ],
      ['no token', { key: supervisor }, { cookie: formCookie, origin }],
      [
        'no form cookie (SameSite=Lax keeps it from cross-site posts)',
        { key: supervisor, form_token: token },
        { origin },
      ],
      [
        'the attacker’s own token',
        { key: supervisor, form_token: (await openSignInPage()).token },
        { cookie: formCookie, origin },
      ],
    ];
    for (const [name, fields, headers] of attempts) {
      const res = await postForm('/supervisor/session', fields, headers);
      expect(res.status, name).toBe(403);
      expect(cookieOf(res, 'certmark_supervisor'), name).toBeUndefined();
    }
  });

  it('signing out ends the session on the server: the old cookie no longer opens the page', async () => {
    const { session, formCookie, token } = await signIn();
    const cookie = `${session}; ${formCookie}`;
    expect((await api.get('/supervisor', undefined, { cookie })).status).toBe(200);
    const out = await postForm('/supervisor/sign-out', { form_token: token }, { cookie, origin });
    expect(out.status).toBe(200);
    expect(out.text).toContain('已退出。');
    // A copy of the cookie kept from before (another tab, a stolen copy) is dead.
    expect((await api.get('/supervisor', undefined, { cookie: session! })).status).toBe(401);
  });

  it('a cross-site sign-out POST does nothing', async () => {
    const { session, formCookie, token } = await signIn();
    const res = await postForm(
      '/supervisor/sign-out',
      { form_token: token },
      { cookie: `${session}; ${formCookie}`, origin: 'https://evil.example' },
    );
    expect(res.status).toBe(403);
    expect((await api.get('/supervisor', undefined, { cookie: session! })).status).toBe(200);
  });

  it('signs out after a link from another site gave the browser a new form cookie', async () => {
    // The console open in one tab; a link from another site opens /supervisor in another, without
    // the cookies a cross-site request does not carry, and the page sets a new form cookie. The
    // first tab's Sign out still signs out (it was refused, and the session stayed open).
    const { session, formCookie, token } = await signIn();
    const fromElsewhere = await api.get('/supervisor', undefined, {
      'sec-fetch-site': 'cross-site',
    });
    const replaced = cookieOf(fromElsewhere, 'certmark_supervisor_form');
    expect(replaced).toBeDefined();
    expect(replaced).not.toBe(formCookie);
    const out = await postForm(
      '/supervisor/sign-out',
      { form_token: token },
      { cookie: `${session}; ${replaced}`, origin, 'sec-fetch-site': 'same-origin' },
    );
    expect(out.status, out.text).toBe(200);
    expect((await api.get('/supervisor', undefined, { cookie: session! })).status).toBe(401);
  });

  it('a sign-out whose headers tell no origin needs the form token', async () => {
    // Origin: null (a no-referrer page) and no Sec-Fetch-Site (an older browser): the token decides.
    const { session, formCookie, token } = await signIn();
    const cookie = `${session}; ${formCookie}`;
    const forged = await postForm('/supervisor/sign-out', {}, { cookie, origin: 'null' });
    expect(forged.status).toBe(403);
    expect((await api.get('/supervisor', undefined, { cookie: session! })).status).toBe(200);
    const own = await postForm(
      '/supervisor/sign-out',
      { form_token: token },
      { cookie, origin: 'null' },
    );
    expect(own.status).toBe(200);
    expect((await api.get('/supervisor', undefined, { cookie: session! })).status).toBe(401);
  });

  it('keeps the form cookie on a link from another site: SameSite=Lax, the session Strict', async () => {
    const page = await api.get('/supervisor');
    const form = page.headers.getSetCookie().find((c) => c.startsWith('certmark_supervisor_form='));
    expect(form).toMatch(/SameSite=Lax/i);
    const { res } = await signIn();
    const session = res.headers.getSetCookie().find((c) => c.startsWith('certmark_supervisor='));
    expect(session).toMatch(/SameSite=Strict/i);
  });

  it('signing in again ends the session the browser had', async () => {
    const first = await signIn();
    const again = await postForm(
      '/supervisor/session',
      { key: supervisor, form_token: first.token },
      { cookie: `${first.session}; ${first.formCookie}`, origin },
    );
    expect(again.status).toBe(303);
    const second = cookieOf(again, 'certmark_supervisor');
    expect(second).toBeDefined();
    expect(second).not.toBe(first.session);
    expect((await api.get('/supervisor', undefined, { cookie: first.session! })).status).toBe(401);
    expect((await api.get('/supervisor', undefined, { cookie: second! })).status).toBe(200);
  });

  it('revoking the key ends its sessions; an expired session opens nothing', async () => {
    const key = await api.post('/v1/api-keys', { role: 'supervisor' }, ctx.adminKey);
    const { session } = await signIn(key.body.key);
    expect((await api.get('/supervisor', undefined, { cookie: session! })).status).toBe(200);
    expect((await api.delete(`/v1/api-keys/${key.body.id}`, ctx.adminKey)).status).toBe(200);
    expect((await api.get('/supervisor', undefined, { cookie: session! })).status).toBe(401);

    const other = await signIn();
    ctx.clock.advance(8 * 3600 * 1000 + 1000);
    try {
      expect((await api.get('/supervisor', undefined, { cookie: other.session! })).status).toBe(
        401,
      );
    } finally {
      ctx.clock.set('2026-11-24T10:00:00.000Z');
    }
  });
});
