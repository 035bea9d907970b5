import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeList } from '@digitalbazaar/vc-bitstring-status-list';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBundleCommand } from '../../src/cli/bundle';
import { runVerifyCommand } from '../../src/cli/verify';
import { voidedMarkDigest } from '../../src/crypto/offline-bundle';
import { platformJwk } from '../../src/keystore/platform-key';
import { client, createTestContext, type Client, type TestContext } from '../helpers';
import { createIssuer, issueCertificate, type IssuerFixture } from '../fixtures';
import { issueMarks, tamperCode, type IssuedMark } from '../marks/mark-helpers';

interface BundlePayload {
  type: string;
  iss: string;
  iat: number;
  createdAt: string;
  freshUntil: string;
  issuers: string[] | null;
  jwks: { keys: { kid: string; issuer: string; purpose: string }[] };
  statusLists: string[];
  voidedMarks: { serialDigest: string; list: string; position: number }[];
  logCheckpoint: string;
}

/**
 * The offline bundle read as an outsider reads it (jose verifies the bundle and every list in it,
 * Digital Bazaar's decoder reads the bits), then used by `certmark bundle` and `certmark verify
 * --bundle` with no network.
 */
describe('offline bundle', () => {
  let ctx: TestContext;
  let api: Client;
  let a: IssuerFixture;
  let b: IssuerFixture;
  let certA: { id: string; credential: string; number: string };
  let certB: { id: string; credential: string };
  let marks: IssuedMark[];
  let batchId: string;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certmark-bundle-'));

  beforeAll(async () => {
    ctx = await createTestContext();
    api = client(ctx.app);
    a = await createIssuer(ctx);
    b = await createIssuer(ctx, { name: 'Other Certification Body' });
    certA = await issueCertificate(api, a.key);
    certB = await issueCertificate(api, b.key);
    ({ batchId, marks } = await issueMarks(api, a.key, certA.id, { count: 5 }));
  });
  afterAll(async () => {
    await ctx.services.marks.close();
    await ctx.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** GET /v1/offline-bundle, verified with jose against the log key of the published JWKS. */
  async function fetchBundle(query = ''): Promise<{ jws: string; payload: BundlePayload }> {
    const res = await api.get(`/v1/offline-bundle${query}`);
    expect(res.status, res.text).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/jose');
    const published = createLocalJWKSet((await api.get('/.well-known/jwks.json')).body);
    const { payload, protectedHeader } = await jwtVerify(res.text, published, {
      typ: 'certmark-offline-bundle+jwt',
      algorithms: ['EdDSA'],
    });
    expect(protectedHeader.kid).toBe(platformJwk(ctx.keys.platformSeed).kid);
    return { jws: res.text, payload: payload as unknown as BundlePayload };
  }

  it('is signed by the transparency log’s key and carries keys, every list as served, the checkpoint, its age and limit', async () => {
    const { jws, payload } = await fetchBundle();
    expect(decodeProtectedHeader(jws)).toMatchObject({
      alg: 'EdDSA',
      typ: 'certmark-offline-bundle+jwt',
    });
    expect(payload.type).toBe('certmark/offline-bundle/v1');
    expect(payload.iss).toBe('https://certmark.test');
    expect(payload.createdAt).toBe(ctx.clock.now().toISOString());
    expect(payload.iat).toBe(Math.floor(ctx.clock.now().getTime() / 1000));
    expect(payload.issuers).toBeNull();
    expect(payload.jwks.keys.map((k) => k.purpose).sort()).toEqual([
      'issuer',
      'issuer',
      'transparency-log',
    ]);
    // Both issuers' revocation and suspension lists, and the batch's list: each verifies with its
    // issuer's own keys, and is what GET /v1/status-lists/{id} serves.
    expect(payload.statusLists).toHaveLength(5);
    let earliestValidUntil = Infinity;
    for (const list of payload.statusLists) {
      const { payload: claims } = await jwtVerify(
        list,
        createLocalJWKSet(
          (
            await api.get(
              `/v1/issuers/${(decodeJwt(list).iss as string).split('/').pop()}/jwks.json`,
            )
          ).body,
        ),
        { typ: 'vc+jwt', currentDate: ctx.clock.now() },
      );
      expect((await api.get(new URL(claims.jti!).pathname)).text).toBe(list);
      earliestValidUntil = Math.min(earliestValidUntil, Date.parse(claims.validUntil as string));
    }
    const created = Date.parse(payload.createdAt);
    const freshUntil = Date.parse(payload.freshUntil);
    expect(freshUntil).toBeGreaterThan(created);
    expect(freshUntil).toBeLessThanOrEqual(Math.min(created + 24 * 3_600_000, earliestValidUntil));
    // The latest checkpoint, exactly as the log serves it.
    expect(payload.logCheckpoint).toBe((await api.get('/log/checkpoint')).text);
  });

  it('?issuer= narrows it to the issuers named; an unknown issuer is a 404, a malformed one a 400', async () => {
    const { payload } = await fetchBundle(`?issuer=${b.id}`);
    expect(payload.issuers).toEqual([b.id]);
    expect(payload.jwks.keys.filter((k) => k.purpose === 'issuer').map((k) => k.issuer)).toEqual([
      b.id,
    ]);
    expect(payload.statusLists).toHaveLength(2);
    for (const list of payload.statusLists)
      expect(decodeJwt(list).iss).toBe(`https://certmark.test/v1/issuers/${b.id}`);

    const unknown = await api.get('/v1/offline-bundle?issuer=00000000-0000-4000-8000-000000000000');
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe('not_found');
    const bad = await api.get('/v1/offline-bundle?issuer=nope');
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toMatch(/problem\+json/);
  });

  it('lists a voided mark by a digest of its serial, where the batch list’s signed bit says void', async () => {
    const voided = marks[2]!;
    const res = await api.post(`/v1/marks/${voided.serial}/void`, { reason: 'lost' }, a.key);
    expect(res.status).toBe(200);
    const { payload } = await fetchBundle();
    expect(payload.voidedMarks).toHaveLength(1);
    const entry = payload.voidedMarks[0]!;
    expect(entry.serialDigest).toBe(voidedMarkDigest(voided.serial));
    expect(JSON.stringify(payload)).not.toContain(voided.serial);
    const list = payload.statusLists.find((l) => decodeJwt(l).jti === entry.list)!;
    const subject = decodeJwt(list).credentialSubject as { encodedList: string };
    const bits = await decodeList({ encodedList: subject.encodedList });
    expect(bits.getStatus(entry.position)).toBe(true);
    expect(bits.getStatus(entry.position === 0 ? 1 : 0)).toBe(false);
    expect(entry.list).toBe(
      `https://certmark.test/v1/status-lists/${await ctx.services.statusLists.batchListId(batchId)}`,
    );
  });

  describe('certmark bundle, then certmark verify --bundle with no network', () => {
    const file = path.join(dir, 'bundle.jws');
    const io = () => {
      const out = { stdout: '', stderr: '' };
      return {
        out,
        stdout: (text: string) => (out.stdout += text),
        stderr: (text: string) => (out.stderr += text),
      };
    };
    const offlineVerify = async (args: string[], now = ctx.clock.now()) => {
      const captured = io();
      const code = await runVerifyCommand(args, {
        ...captured,
        readFile: (p) => fs.readFileSync(p, 'utf8'),
        fetch: () => Promise.reject(new Error('no network here')),
        retry: { attempts: 1, maxWaitSeconds: 0, defaultWaitSeconds: 0, sleep: async () => {} },
        now: () => now,
      });
      return { code, ...captured.out };
    };

    beforeAll(async () => {
      const captured = io();
      const code = await runBundleCommand(
        [
          '--url',
          'https://certmark.test',
          '--out',
          file,
          // The = form: a kid is base64url and may begin with '-'.
          `--log-kid=${platformJwk(ctx.keys.platformSeed).kid}`,
        ],
        {
          ...captured,
          fetch: (url) =>
            ctx.app.request(new URL(url).pathname + new URL(url).search) as Promise<Response>,
          writeFile: (p, text) => fs.writeFileSync(p, text),
          retry: { attempts: 1, maxWaitSeconds: 0, defaultWaitSeconds: 0, sleep: async () => {} },
          now: () => ctx.clock.now(),
        },
      );
      expect(captured.out.stderr).toContain('signed by the transparency log');
      expect(code).toBe(0);
    });

    it('certmark bundle says so when what it saves is already past its limit (a clock off)', async () => {
      const captured = io();
      const code = await runBundleCommand(['--url', 'https://certmark.test'], {
        ...captured,
        fetch: (url) =>
          ctx.app.request(new URL(url).pathname + new URL(url).search) as Promise<Response>,
        writeFile: () => {},
        retry: { attempts: 1, maxWaitSeconds: 0, defaultWaitSeconds: 0, sleep: async () => {} },
        now: () => new Date(ctx.clock.now().getTime() + 30 * 3_600_000),
      });
      expect(code).toBe(0);
      expect(captured.out.stderr).toContain('already past it (6 h ago)');
      expect(captured.out.stderr).toContain('status unknown');
    });

    it('a genuine credential is authentic with its status age; after revocation and a new bundle it is revoked', async () => {
      const fresh = await offlineVerify([certA.credential, '--bundle', file]);
      expect(fresh.stdout).toMatch(/^authentic: certificate /);
      expect(fresh.stdout).toContain('status information as of 2026-11-24T10:00:00.000Z (0 s old)');
      expect(fresh.code).toBe(0);

      const json = await offlineVerify([certB.credential, '--bundle', file, '--json']);
      expect(JSON.parse(json.stdout)).toMatchObject({
        kind: 'credential',
        verdict: 'authentic',
        status: { fresh: true, ageSeconds: 0 },
      });
    });

    it('a tampered credential is forged, a credential of a key not in the bundle is unknown', async () => {
      const [h, p, s] = certA.credential.split('.');
      const tampered = `${h}.${p}.${s!.slice(0, -4)}AAAA`;
      const forged = await offlineVerify([tampered, '--bundle', file, '--json']);
      expect(JSON.parse(forged.stdout)).toMatchObject({
        verdict: 'forged',
        reasons: [{ code: 'BAD_SIGNATURE' }],
      });
      expect(forged.code).toBe(1);
      const mark = await offlineVerify([
        tamperCode(marks[0]!.code, 70, 4),
        '--bundle',
        file,
        '--json',
      ]);
      expect(JSON.parse(mark.stdout).verdict).toBe('forged');
    });

    it('past the freshness limit: “status unknown” in plain words (en and zh), never authentic', async () => {
      const later = new Date(ctx.clock.now().getTime() + 25 * 3_600_000);
      const en = await offlineVerify([certA.credential, '--bundle', file], later);
      expect(en.stdout).toMatch(/^status unknown: certificate /);
      expect(en.stdout).toContain('(25 h old); past its limit');
      expect(en.stdout).not.toMatch(/authentic/);
      expect(en.code).toBe(3);
      const zh = await offlineVerify([marks[0]!.url, '--bundle', file, '--lang', 'zh'], later);
      expect(zh.stdout).toMatch(/^状态未知: 标志 /);
      expect(zh.stdout).toContain('请联网核验');
      expect(zh.stdout).toContain('25小时前');
      expect(zh.code).toBe(3);
      // Its findings in Chinese too, under their codes (they were left in English).
      const finding = zh.stdout.split('\n').find((line) => line.includes('STATUS_UNKNOWN:'))!;
      const words = finding.slice(finding.indexOf('STATUS_UNKNOWN: ') + 'STATUS_UNKNOWN: '.length);
      expect(words).toMatch(/[\u4e00-\u9fff]/);
      expect(words).not.toMatch(/[A-Za-z]/);
    });

    it('status changes reach a new bundle: revoked, suspended, an issuer suspended, a voided mark', async () => {
      const { marks: marksOfB } = await issueMarks(api, b.key, certB.id, { count: 1 });
      const revoked = await issueCertificate(api, a.key);
      const suspended = await issueCertificate(api, a.key);
      const signatory = { name: '张三' };
      await api.post(
        `/v1/certificates/${revoked.id}/status`,
        { status: 'revoked', reason: 'r', signatory },
        a.key,
      );
      await api.post(
        `/v1/certificates/${suspended.id}/status`,
        { status: 'suspended', reason: 's', signatory },
        a.key,
      );
      await api.post(
        `/v1/issuers/${b.id}/status`,
        { status: 'suspended', reason: 'audit' },
        ctx.adminKey,
      );
      const next = path.join(dir, 'next.jws');
      fs.writeFileSync(next, (await api.get('/v1/offline-bundle')).text);
      const answer = async (input: string) =>
        JSON.parse((await offlineVerify([input, '--bundle', next, '--json'])).stdout) as {
          verdict: string;
          reasons: { code: string }[];
        };
      expect(await answer(revoked.credential)).toMatchObject({
        verdict: 'invalid',
        reasons: [{ code: 'REVOKED' }],
      });
      expect(await answer(suspended.credential)).toMatchObject({
        verdict: 'invalid',
        reasons: [{ code: 'SUSPENDED' }],
      });
      // The issuer's suspension, as online: for its credentials (whose suspension bits it sets)
      // and for its marks, which carry no certificate status offline.
      expect(await answer(certB.credential)).toMatchObject({
        verdict: 'invalid',
        reasons: [{ code: 'ISSUER_SUSPENDED' }],
      });
      expect(await answer(marksOfB[0]!.code)).toMatchObject({
        verdict: 'invalid',
        reasons: [{ code: 'ISSUER_SUSPENDED' }],
      });
      expect((await api.post('/v1/verify/mark', { code: marksOfB[0]!.code })).body).toMatchObject({
        verdict: 'invalid',
        reasons: [{ code: 'ISSUER_SUSPENDED' }],
      });
      // marks[2] was voided above; marks[3] was not.
      expect(await answer(marks[2]!.code)).toMatchObject({
        verdict: 'invalid',
        reasons: [{ code: 'MARK_VOID' }],
      });
      expect(await answer(marks[3]!.code)).toMatchObject({ verdict: 'authentic', reasons: [] });
      // Past the bundle's limit, what is final is still known: a void mark, a revocation. A
      // suspension may have been lifted since: unknown.
      const later = new Date(ctx.clock.now().getTime() + 25 * 3_600_000);
      const answerLater = async (input: string) =>
        JSON.parse((await offlineVerify([input, '--bundle', next, '--json'], later)).stdout) as {
          verdict: string;
          reasons: { code: string }[];
        };
      expect(await answerLater(marks[2]!.code)).toMatchObject({
        verdict: 'invalid',
        reasons: [{ code: 'MARK_VOID' }],
      });
      const revokedLater = await answerLater(revoked.credential);
      expect(revokedLater.verdict).toBe('invalid');
      expect(revokedLater.reasons.map((r) => r.code)).toEqual(['REVOKED', 'STATUS_UNKNOWN']);
      expect((await answerLater(suspended.credential)).verdict).toBe('status_unknown');
      expect((await answerLater(marks[3]!.code)).verdict).toBe('status_unknown');
      await api.post(
        `/v1/issuers/${b.id}/status`,
        { status: 'active', reason: 'ok' },
        ctx.adminKey,
      );
      const after = path.join(dir, 'after.jws');
      fs.writeFileSync(after, (await api.get('/v1/offline-bundle')).text);
      const verdictAfter = async (input: string) =>
        (
          JSON.parse((await offlineVerify([input, '--bundle', after, '--json'])).stdout) as {
            verdict: string;
          }
        ).verdict;
      expect(await verdictAfter(certB.credential)).toBe('authentic');
      expect(await verdictAfter(marksOfB[0]!.code)).toBe('authentic');
    });

    it('an expired certificate is invalid offline whatever the bundle’s age', async () => {
      const old = await issueCertificate(api, a.key, {
        validFrom: '2020-01-01',
        validUntil: '2021-01-01',
      });
      const fresh = path.join(dir, 'fresh.jws');
      fs.writeFileSync(fresh, (await api.get('/v1/offline-bundle')).text);
      const res = await offlineVerify([old.credential, '--bundle', fresh, '--json']);
      expect(JSON.parse(res.stdout)).toMatchObject({
        verdict: 'invalid',
        reasons: [{ code: 'EXPIRED' }],
      });
    });

    it('refuses a bundle that is not signed by the log key it is told to trust, or was altered', async () => {
      const wrongKid = await offlineVerify([
        certA.credential,
        '--bundle',
        file,
        `--log-kid=${a.kid}`,
      ]);
      // Tampered or substituted: exit 1, as a rewritten log; a file that is no bundle: 2.
      expect(wrongKid.code).toBe(1);
      expect(wrongKid.stderr).toContain('not by the log key');
      const [h, p, s] = fs.readFileSync(file, 'utf8').trim().split('.');
      const payload = JSON.parse(Buffer.from(p!, 'base64url').toString()) as BundlePayload;
      payload.freshUntil = '2099-01-01T00:00:00.000Z';
      const altered = path.join(dir, 'altered.jws');
      fs.writeFileSync(
        altered,
        `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`,
      );
      const res = await offlineVerify([certA.credential, '--bundle', altered]);
      expect(res.code).toBe(1);
      expect(res.stderr).toContain('signature does not verify');
      // The log's key taken out (or another put under its kid): the bundle names no log key.
      const header = JSON.parse(Buffer.from(h!, 'base64url').toString()) as { kid: string };
      const keyless = JSON.parse(Buffer.from(p!, 'base64url').toString()) as BundlePayload & {
        jwks: { keys: { kid: string }[] };
      };
      keyless.jwks.keys = keyless.jwks.keys.filter((k) => k.kid !== header.kid);
      const substituted = path.join(dir, 'substituted.jws');
      fs.writeFileSync(
        substituted,
        `${h}.${Buffer.from(JSON.stringify(keyless)).toString('base64url')}.${s}`,
      );
      const noLogKey = await offlineVerify([certA.credential, '--bundle', substituted]);
      expect(noLogKey.code).toBe(1);
      expect(noLogKey.stderr).toContain('names no transparency-log key');
      const garbage = path.join(dir, 'garbage.jws');
      fs.writeFileSync(garbage, 'not a bundle');
      expect((await offlineVerify([certA.credential, '--bundle', garbage])).code).toBe(2);
      // A real bundle with a field dropped, its header changed or its signature cut is an altered
      // bundle (1), not a file of another kind (it answered 2: an outside probe).
      const variants = {
        noKeys: `${h}.${Buffer.from(JSON.stringify({ ...payload, jwks: undefined })).toString('base64url')}.${s}`,
        otherTyp: `${Buffer.from(JSON.stringify({ ...header, typ: 'JWT' })).toString('base64url')}.${p}.${s}`,
        cutSignature: `${h}.${p}.${s!.slice(0, 20)}`,
      };
      for (const [name, text] of Object.entries(variants)) {
        const variant = path.join(dir, `${name}.jws`);
        fs.writeFileSync(variant, text);
        expect((await offlineVerify([certA.credential, '--bundle', variant])).code, name).toBe(1);
      }
    });

    it('judges as of the bundle’s making when the clock reads earlier, and says so', async () => {
      const old = await issueCertificate(api, a.key, {
        validFrom: '2020-01-01',
        validUntil: '2021-01-01',
      });
      const made = path.join(dir, 'made-now.jws');
      fs.writeFileSync(made, (await api.get('/v1/offline-bundle')).text);
      // A clock set back six years: the certificate looked valid and the bundle 0 s old.
      const setBack = new Date(ctx.clock.now().getTime() - 6 * 365 * 86_400_000);
      const res = await offlineVerify([old.credential, '--bundle', made, '--json'], setBack);
      expect(res.code).toBe(1);
      const answer = JSON.parse(res.stdout);
      expect(answer).toMatchObject({ verdict: 'invalid', reasons: [{ code: 'EXPIRED' }] });
      expect(answer.status.clockBehindSeconds).toBeGreaterThan(5 * 365 * 86_400);
      const words = await offlineVerify([old.credential, '--bundle', made], setBack);
      expect(words.stdout).toContain('judged as of the bundle');
    });

    it('exit 3 for what a bundle cannot tell (an issuer it does not cover, a typed serial), 2 for a mistyped serial, and a status list is no certificate', async () => {
      const narrowed = path.join(dir, 'narrowed.jws');
      fs.writeFileSync(narrowed, (await api.get(`/v1/offline-bundle?issuer=${a.id}`)).text);
      const other = await issueCertificate(api, b.key);
      const notCovered = await offlineVerify([other.credential, '--bundle', narrowed]);
      expect([notCovered.code, notCovered.stdout]).toEqual([
        3,
        expect.stringContaining('ISSUER_NOT_IN_BUNDLE'),
      ]);
      const typed = await offlineVerify(['1234 5678 9012 3456', '--bundle', file]);
      const digits = '12345678901234';
      const check = String(98 - Number((BigInt(digits) * 100n) % 97n)).padStart(2, '0');
      const serial = await offlineVerify([`${digits}${check}`, '--bundle', file, '--json']);
      expect(JSON.parse(serial.stdout).reasons[0].code).toBe('SERIAL_ONLY');
      expect(serial.code).toBe(3);
      expect(typed.code).toBe(2);
      // A certificate's QR link (what its QR code holds): nothing to check offline, not forged.
      const link = await offlineVerify([
        `HTTPS://CERTMARK.TEST/C/${certA.id.toUpperCase()}/`,
        '--bundle',
        file,
        '--json',
      ]);
      expect(link.code).toBe(3);
      expect(JSON.parse(link.stdout)).toMatchObject({
        verdict: 'not_checkable',
        reasons: [{ code: 'CERTIFICATE_LINK' }],
        certificate: { id: certA.id },
      });
      const statusUrl = JSON.parse(
        Buffer.from(certA.credential.split('.')[1]!, 'base64url').toString(),
      ).credentialStatus[0].statusListCredential as string;
      const list = (await api.get(new URL(statusUrl).pathname)).text.trim();
      const asCertificate = await offlineVerify([list, '--bundle', file, '--json']);
      expect(JSON.parse(asCertificate.stdout)).toMatchObject({
        verdict: 'forged',
        reasons: [{ code: 'MALFORMED', message: 'not a certificate credential' }],
      });
    });
  });
});
