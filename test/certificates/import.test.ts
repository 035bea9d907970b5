import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { decodeJwt } from 'jose';
import type { Principal } from '../../src/auth/principal';
import { CertificateImportsService } from '../../src/certificate-imports/imports.service';
import { rowsOf } from '../../src/db/client';
import { isDatabaseUnavailable } from '../../src/errors';
import { client, createTestContext, type Client, type TestContext } from '../helpers';
import {
  certificateBody,
  createIssuer,
  createRoleKey,
  USCC,
  type IssuerFixture,
} from '../fixtures';

/**
 * Bulk import (POST /v1/certificates/imports) against real PostgreSQL: both formats, dry runs,
 * idempotence and conflicts, the per-row report, who may read what, and that an imported
 * certificate is one like any other (signed with status entries, audited, searchable, revocable).
 */
describe('certificate imports', () => {
  let ctx: TestContext;
  let api: Client;
  let issuer: IssuerFixture;
  let other: IssuerFixture;

  const post = (
    body: string | Blob,
    type: string,
    options: { key?: string; query?: string; idempotencyKey?: string } = {},
  ) =>
    ctx.app.request(`/v1/certificates/imports${options.query ?? ''}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${options.key ?? issuer.key}`,
        'content-type': type,
        ...(options.idempotencyKey !== undefined
          ? { 'idempotency-key': options.idempotencyKey }
          : {}),
      },
      body,
    });
  /** Posts an import, waits for its job, answers its final state and report. */
  const runImport = async (body: string, type = 'application/x-ndjson', query = '') => {
    const res = await post(body, type, { query });
    const accepted = (await res.json()) as { importId: string; status: string };
    expect(res.status, JSON.stringify(accepted)).toBe(202);
    expect(accepted.status).toBe('queued');
    await ctx.services.certificateImports.whenIdle();
    const state = await api.get(`/v1/certificates/imports/${accepted.importId}`, issuer.key);
    expect(state.status).toBe(200);
    const report = await api.get(
      `/v1/certificates/imports/${accepted.importId}/report.csv`,
      issuer.key,
    );
    expect(report.status).toBe(200);
    expect(report.headers.get('content-type')).toMatch(/^text\/csv/);
    const [header, ...lines] = report.text.trim().split('\r\n');
    expect(header).toBe('row,number,field,problem');
    return { id: accepted.importId, state: state.body, report: lines };
  };
  const ndjson = (...rows: unknown[]) =>
    rows.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n') + '\n';
  const count = async (
    table: 'certificates' | 'audit_log' | 'status_list_entries' | 'certificate_imports',
  ) =>
    Number(
      rowsOf<{ n: string }>(
        await ctx.handle.db.execute(sql.raw(`SELECT count(*) AS n FROM ${table}`)),
      )[0]!.n,
    );
  const byNumber = async (number: string) => {
    const res = await api.get(`/v1/registry/certificates?number=${encodeURIComponent(number)}`);
    expect(res.status).toBe(200);
    return res.body.items as any[];
  };
  /** The import service on the test's database (or `db`), with options of its own. */
  const importsService = (
    options: Partial<ConstructorParameters<typeof CertificateImportsService>[0]> = {},
  ) =>
    new CertificateImportsService({
      db: ctx.handle.db,
      clock: ctx.clock,
      certificates: ctx.services.certificates,
      baseUrl: ctx.config.publicBaseUrl,
      ...options,
    });
  /** The test issuer as its API key is a principal, for calling the service directly. */
  const issuerPrincipal = async (): Promise<Principal> => {
    const [key] = rowsOf<{ id: string }>(
      await ctx.handle.db.execute(
        sql`SELECT id FROM api_keys WHERE issuer_id = ${issuer.id} LIMIT 1`,
      ),
    );
    return { keyId: key!.id, role: 'issuer', issuerId: issuer.id };
  };

  beforeAll(async () => {
    ctx = await createTestContext({ IMPORT_MAX_MIB: '1' });
    api = client(ctx.app);
    issuer = await createIssuer(ctx);
    other = await createIssuer(ctx, { name: 'Other Certification Body' });
  });
  afterAll(async () => ctx.close());

  it('imports NDJSON, historical certificates too, each one signed, audited, searchable and revocable', async () => {
    const current = certificateBody();
    const historical = certificateBody({ validFrom: '2012-03-01', validUntil: '2015-03-01' });
    const audits = await count('audit_log');
    const { state, report } = await runImport(ndjson(current, '', historical));
    expect(state).toMatchObject({ status: 'done', rows: 2, imported: 2, unchanged: 0, failed: 0 });
    expect(report).toEqual([]);

    const [found] = await byNumber(historical.number);
    expect(found).toMatchObject({ number: historical.number, status: 'expired' });
    const cert = (await api.get(`/v1/certificates/${found.id}`)).body;
    const claims = decodeJwt(cert.credential) as any;
    expect(claims.credentialStatus.map((s: any) => s.statusPurpose)).toEqual([
      'revocation',
      'suspension',
    ]);
    expect(claims.validUntil).toMatch(/^2015-03-0/);

    // Audited as any issuance (one entry per certificate), and the import's end besides.
    const entries = rowsOf<{ action: string; subject_id: string }>(
      await ctx.handle.db.execute(
        sql`SELECT action, subject_id FROM audit_log ORDER BY id DESC LIMIT 3`,
      ),
    );
    expect(await count('audit_log')).toBe(audits + 3);
    expect(entries.map((e) => e.action).sort()).toEqual([
      'certificate.import.done',
      'certificate.issue',
      'certificate.issue',
    ]);

    const [live] = await byNumber(current.number);
    const verify = async () =>
      (
        await api.post('/v1/verify/certificate', {
          credential:
            live.credential ?? (await api.get(`/v1/certificates/${live.id}`)).body.credential,
        })
      ).body;
    expect((await verify()).verdict).toBe('authentic');
    const revoked = await api.post(
      `/v1/certificates/${live.id}/status`,
      { status: 'revoked', reason: 'withdrawn by the body', signatory: { name: '张三' } },
      issuer.key,
    );
    expect(revoked.status, revoked.text).toBe(200);
    const after = await verify();
    expect(after.verdict).toBe('invalid');
    expect(after.reasons.map((r: any) => r.code)).toContain('REVOKED');
  });

  it('imports CSV with the documented header into the same certificates as JSON', async () => {
    const number = 'CSV-2024-0001';
    const csv = [
      'number,scheme,holder.name,holder.uscc,holder.address,scope.product,scope.models,scope.hsCode,standards,validFrom,validUntil,signatory.name,signatory.title',
      `${number},CCC,"Shenzhen Example Electronics Co., Ltd.",${USCC.holder},"Nanshan, Shenzhen",Laptop computer,X1-100|X1-2*,8471300000,GB 4943.1-2022|GB/T 9254.1-2021,2024-01-01,2029-01-01,张三,Certification decision maker`,
      `CSV-2024-0002,ORGANIC,Example Farm,${USCC.other},,Tea,Longjing,,,2023-05-01,2026-05-01,李四,`,
      // A scope that names no models (a management system's): the cell left empty.
      `CSV-2024-0003,ISO9001,Example Works,${USCC.other},,Design and manufacture of tea sets,,,,2023-05-01,2026-05-01,李四,`,
    ].join('\r\n');
    const { state, report } = await runImport(`\uFEFF${csv}\r\n`, 'text/csv; charset=utf-8');
    expect(report).toEqual([]);
    expect(state).toMatchObject({ status: 'done', rows: 3, imported: 3, failed: 0 });
    expect((await byNumber('CSV-2024-0003'))[0].scope).toEqual([
      { product: 'Design and manufacture of tea sets' },
    ]);
    const [cert] = await byNumber(number);
    expect(cert).toMatchObject({
      scheme: 'CCC',
      holder: {
        name: 'Shenzhen Example Electronics Co., Ltd.',
        uscc: USCC.holder,
        country: 'CN',
        address: 'Nanshan, Shenzhen',
      },
      scope: [{ product: 'Laptop computer', models: ['X1-100', 'X1-2*'], hsCode: '8471300000' }],
      standards: ['GB 4943.1-2022', 'GB/T 9254.1-2021'],
      validFrom: '2024-01-01',
      validUntil: '2029-01-01',
      signatory: { name: '张三', title: 'Certification decision maker' },
    });
    // A header saved with CRLF and records with LF (a file edited elsewhere): each record its
    // own row, not the whole file one (outside probe).
    const [header, ...records] = csv.split('\r\n');
    const mixed = `\uFEFF${header}\r\n${records.map((r) => r.replace(/2024-000/, '2024-100')).join('\n')}\n`;
    const again = await runImport(mixed, 'text/csv; charset=utf-8');
    expect(again.report).toEqual([]);
    expect(again.state).toMatchObject({ status: 'done', rows: 3, imported: 3, failed: 0 });
  });

  it('a dry run judges every row and writes nothing', async () => {
    const rows = [certificateBody(), certificateBody()];
    const before = await Promise.all([
      count('certificates'),
      count('audit_log'),
      count('status_list_entries'),
    ]);
    const { state, report } = await runImport(
      ndjson(...rows, rows[0], { ...rows[1], scope: [] }),
      'application/x-ndjson',
      '?dryRun=true',
    );
    expect(state).toMatchObject({
      status: 'done',
      dryRun: true,
      rows: 4,
      imported: 2,
      unchanged: 1,
      failed: 1,
    });
    expect(report).toHaveLength(1);
    expect(report[0]).toMatch(new RegExp(`^4,${rows[1]!.number},scope,`));
    expect(
      await Promise.all([count('certificates'), count('audit_log'), count('status_list_entries')]),
    ).toEqual(before);
    expect(await byNumber(rows[0]!.number)).toEqual([]);
  });

  it('refuses a dry run asked under another spelling rather than import for real', async () => {
    const row = certificateBody();
    const before = await Promise.all([count('certificates'), count('certificate_imports')]);
    for (const query of [
      '?dryRun[]=true',
      '?dry_run=true',
      '?dryrun=true',
      '?dryRun=true&x=1',
      '?dryRun=',
    ]) {
      const res = await post(ndjson(row), 'application/x-ndjson', { query });
      const body = (await res.json()) as { code: string; errors: { path: string }[] };
      expect(res.status, `${query}: ${JSON.stringify(body)}`).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/problem\+json/);
      expect(body.code).toBe('validation_failed');
      expect(body.errors.length).toBeGreaterThan(0);
    }
    await ctx.services.certificateImports.whenIdle();
    expect(await Promise.all([count('certificates'), count('certificate_imports')])).toEqual(
      before,
    );
    expect(await byNumber(row.number)).toEqual([]);
  });

  it('is idempotent: the same rows again change nothing; a changed row is a conflict, never an overwrite', async () => {
    const rows = [certificateBody(), certificateBody()];
    const first = await runImport(ndjson(...rows));
    expect(first.state).toMatchObject({ imported: 2, failed: 0 });
    const before = await Promise.all([count('certificates'), count('audit_log')]);

    const again = await runImport(ndjson(...rows));
    expect(again.state).toMatchObject({
      status: 'done',
      rows: 2,
      imported: 0,
      unchanged: 2,
      failed: 0,
    });
    // Nothing written but the import's own end in the audit log.
    expect(await Promise.all([count('certificates'), count('audit_log')])).toEqual([
      before[0],
      before[1]! + 1,
    ]);

    const changed = { ...rows[1]!, holder: { ...rows[1]!.holder, name: 'Another Holder Ltd.' } };
    const conflict = await runImport(ndjson(rows[0], changed));
    expect(conflict.state).toMatchObject({ imported: 0, unchanged: 1, failed: 1 });
    expect(conflict.report).toHaveLength(1);
    expect(conflict.report[0]).toMatch(new RegExp(`^2,${rows[1]!.number},holder,conflict: `));
    const [kept] = await byNumber(rows[1]!.number);
    expect(kept.holder.name).toBe(rows[1]!.holder.name);
  });

  it('reports each bad row (row, field, problem) and imports the good ones', async () => {
    const good = certificateBody();
    const { state, report } = await runImport(
      ndjson(
        '{"number": "broken',
        certificateBody({ holder: { name: 'X', uscc: '914403001922038217' } }),
        good,
        certificateBody({ scheme: 'GAP' }),
        certificateBody({ validFrom: '2030-01-01', validUntil: '2020-01-01' }),
        { ...good, validUntil: '2031-01-01' },
        '{"number": "N\u0000UL"}',
      ),
    );
    expect(state).toMatchObject({ status: 'done', rows: 7, imported: 1, unchanged: 0, failed: 6 });
    const fields = report.map((line) =>
      line
        .split(',')
        .slice(0, 3)
        .filter((_, i) => i !== 1)
        .join(','),
    );
    expect(fields).toEqual([
      '1,(row)',
      '2,holder.uscc',
      '4,scheme',
      '5,validUntil',
      '6,validUntil',
      '7,(row)',
    ]);
    expect(report[3]).toContain('must be after validFrom');
    expect(await byNumber(good.number)).toHaveLength(1);

    // A number and a field name PostgreSQL cannot hold (JSON escapes, not raw bytes): the row is
    // reported without what cannot be stored, and the job goes on.
    const other = certificateBody();
    const unstorable = await runImport(
      ndjson(other, '{"number": "N\\u0000UL", "scheme": "CCC", "x\\u0000y": 1}'),
    );
    expect(unstorable.state).toMatchObject({ status: 'done', rows: 2, imported: 1, failed: 1 });
    expect(unstorable.report.length).toBeGreaterThan(0);
    for (const line of unstorable.report) expect(line).toMatch(/^2,NUL,/);
    expect(await byNumber(other.number)).toHaveLength(1);

    const csv = await runImport(
      'number,scheme,holder.name,holder.uscc,scope,validFrom,validUntil,signatory.name,quantity\r\n' +
        `C-1,CCC,Holder,${USCC.holder},not json,2024-01-01,2025-01-01,Z,\r\n` +
        `C-2,CCC,Holder\r\n` +
        `C-3,CCC,Holder,${USCC.holder},"[{""product"":""P"",""models"":[""M""]}]",2024-01-01,2025-01-01,Z,twelve\r\n`,
      'text/csv',
    );
    expect(csv.state).toMatchObject({ rows: 3, imported: 0, failed: 3 });
    expect(csv.report.map((line) => line.split(',').slice(0, 3).join(','))).toEqual([
      '1,C-1,scope',
      '2,,(row)',
      '3,C-3,quantity',
    ]);
  });

  it('refuses a file it cannot read, and keeps imports to their issuer', async () => {
    const problem = async (res: Response, status: number, code: string) => {
      expect(res.status).toBe(status);
      expect(res.headers.get('content-type')).toMatch(/problem\+json/);
      expect(((await res.json()) as { code: string }).code).toBe(code);
    };
    const line = JSON.stringify(certificateBody());
    await problem(
      await post(new Blob([new Uint8Array([0x7b, 0xff, 0xfe, 0x0a])]), 'application/x-ndjson'),
      400,
      'malformed_import',
    );
    await problem(await post('number,colour\r\nA,red\r\n', 'text/csv'), 400, 'malformed_import');
    // A quote inside a field that is not quoted.
    await problem(
      await post(
        'number,scheme,holder.name,holder.uscc,validFrom,validUntil,signatory.name,scope.product,scope.models\r\n' +
          `Q-1,CCC,ab"c,${USCC.holder},2024-01-01,2027-01-01,B,W,M\r\n`,
        'text/csv',
      ),
      400,
      'malformed_import',
    );
    await problem(await post('', 'application/x-ndjson'), 400, 'malformed_import');
    await problem(await post(line, 'application/json'), 415, 'unsupported_media_type');
    await problem(await post(line, 'text/csv; charset=latin1'), 415, 'unsupported_media_type');
    // Over the limit (1 MiB here): 413, and no import is left behind.
    const imports = async () =>
      Number(
        rowsOf<{ n: string }>(
          await ctx.handle.db.execute(sql`SELECT count(*) AS n FROM certificate_imports`),
        )[0]!.n,
      );
    const before = await imports();
    await problem(
      await post(
        `${line}\n`.repeat(Math.ceil((1.1 * 1048576) / line.length)),
        'application/x-ndjson',
      ),
      413,
      'payload_too_large',
    );
    expect(await imports()).toBe(before);

    const supervisor = await createRoleKey(ctx, 'supervisor');
    await problem(await post(line, 'application/x-ndjson', { key: supervisor }), 403, 'forbidden');
    const { id } = await runImport(ndjson(certificateBody()));
    for (const path of [
      `/v1/certificates/imports/${id}`,
      `/v1/certificates/imports/${id}/report.csv`,
    ]) {
      expect((await api.get(path, other.key)).status).toBe(404);
      expect((await api.get(path, supervisor)).status).toBe(403);
      expect((await api.get(path)).status).toBe(401);
    }
  });

  it('an upload sent again under its Idempotency-Key is answered with the same import, never a second', async () => {
    const rows = ndjson(certificateBody(), certificateBody());
    const key = '"import-2026-11-28-0001"';
    const first = await post(rows, 'application/x-ndjson', { idempotencyKey: key });
    const received = (await first.json()) as { importId: string; status: string };
    expect(first.status, JSON.stringify(received)).toBe(202);
    expect(received.status).toBe('queued');
    await ctx.services.certificateImports.whenIdle();
    const certificates = await count('certificates');

    // Its answer lost, the client sends it again: the same import, as it stands now.
    for (const sentKey of [key, 'import-2026-11-28-0001']) {
      const again = await post(rows, 'application/x-ndjson', { idempotencyKey: sentKey });
      const answer = (await again.json()) as Record<string, unknown>;
      expect(again.status, JSON.stringify(answer)).toBe(202);
      expect(again.headers.get('location')).toBe(first.headers.get('location'));
      expect(answer).toMatchObject({
        importId: received.importId,
        status: 'done',
        rows: 2,
        imported: 2,
      });
    }
    await ctx.services.certificateImports.whenIdle();
    expect(await count('certificates')).toBe(certificates);
    const underKey = async (issuerId: string) =>
      rowsOf<{ id: string }>(
        await ctx.handle.db.execute(
          sql`SELECT id FROM certificate_imports WHERE issuer_id = ${issuerId} AND idempotency_key = 'import-2026-11-28-0001'`,
        ),
      );
    expect(await underKey(issuer.id)).toEqual([{ id: received.importId }]);

    // The key names one upload: other rows, another format or a dry run under it are refused.
    const refused = async (res: Response, status: number, code: string) => {
      expect(res.status).toBe(status);
      expect(((await res.json()) as { code: string }).code).toBe(code);
    };
    await refused(
      await post(ndjson(certificateBody()), 'application/x-ndjson', { idempotencyKey: key }),
      422,
      'idempotency_key_reused',
    );
    await refused(
      await post(rows, 'application/x-ndjson', { idempotencyKey: key, query: '?dryRun=true' }),
      422,
      'idempotency_key_reused',
    );
    for (const bad of ['', '"a b"x', 'has space', 'k'.repeat(256), '"\u00e9"'])
      await refused(
        await post(rows, 'application/x-ndjson', { idempotencyKey: bad }),
        400,
        'validation_failed',
      );
    expect(await underKey(issuer.id)).toHaveLength(1);

    // Sent again while the first is still being received: 409 at once, not a wait behind it.
    let finish!: () => void;
    const held = new Promise<void>((resolve) => (finish = resolve));
    const encoder = new TextEncoder();
    const slowBody = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(encoder.encode(ndjson(certificateBody())));
        await held;
        controller.enqueue(encoder.encode(ndjson(certificateBody())));
        controller.close();
      },
    });
    const slow = ctx.app.request('/v1/certificates/imports', {
      method: 'POST',
      headers: {
        authorization: `Bearer ${issuer.key}`,
        'content-type': 'application/x-ndjson',
        'idempotency-key': 'still-arriving',
      },
      body: slowBody,
      duplex: 'half',
    } as RequestInit);
    // Until its transaction holds the key.
    for (let i = 0; i < 200; i++) {
      const [{ n }] = rowsOf<{ n: number }>(
        await ctx.handle.db.execute(
          sql`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
        ),
      ) as [{ n: number }];
      if (n > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await refused(
      await post(rows, 'application/x-ndjson', { idempotencyKey: 'still-arriving' }),
      409,
      'idempotency_key_in_use',
    );
    finish();
    const arrived = await slow;
    expect(arrived.status).toBe(202);
    expect(((await arrived.json()) as { rows: number }).rows).toBe(2);

    // Keys are the issuer's own: another issuer's upload under the same key is its own import.
    const theirs = await post(ndjson(certificateBody()), 'application/x-ndjson', {
      key: other.key,
      idempotencyKey: key,
    });
    expect(theirs.status).toBe(202);
    expect(((await theirs.json()) as { importId: string }).importId).not.toBe(received.importId);
    await ctx.services.certificateImports.whenIdle();
  });

  describe('an upload that takes its time', () => {
    /** A body that sends `rows`, pausing `pauseMs` after the first. */
    const pausing = (rows: string[], pauseMs: number) => {
      const encoder = new TextEncoder();
      // A request body, and the service's AsyncIterable (Node's web streams are both).
      return new ReadableStream<Uint8Array>({
        async start(controller) {
          for (const [i, row] of rows.entries()) {
            if (i === 1) await new Promise((resolve) => setTimeout(resolve, pauseMs));
            controller.enqueue(encoder.encode(row));
          }
          controller.close();
        },
      }) as ReadableStream<Uint8Array> & AsyncIterable<Uint8Array>;
    };
    it('is received across a pause longer than a session may idle in a transaction', async () => {
      // 6 s: past the 5 s the database gives a session idle inside a transaction, which used to
      // end the staging transaction and answer 503 "database not reachable" (outside probe).
      const res = await ctx.app.request('/v1/certificates/imports', {
        method: 'POST',
        headers: { authorization: `Bearer ${issuer.key}`, 'content-type': 'application/x-ndjson' },
        body: pausing([ndjson(certificateBody()), ndjson(certificateBody())], 6_000),
        duplex: 'half',
      } as RequestInit);
      const body = (await res.json()) as { importId: string; rows: number };
      expect(res.status, JSON.stringify(body)).toBe(202);
      expect(body.rows).toBe(2);
      await ctx.services.certificateImports.whenIdle();
      const state = await api.get(`/v1/certificates/imports/${body.importId}`, issuer.key);
      expect(state.body).toMatchObject({ status: 'done', imported: 2 });
    }, 20_000);

    it('is one of a few received at once: past them, 429 and nothing kept', async () => {
      // Each upload holds a connection until its body is in: slow ones must not take the pool.
      const service = importsService({ maxUploadsReceiving: 1 });
      const principal = await issuerPrincipal();
      const upload = (pauseMs: number) =>
        service.receive(principal, {
          format: 'ndjson',
          dryRun: false,
          body: pausing([ndjson(certificateBody()), ndjson(certificateBody())], pauseMs),
        });
      const slow = upload(500);
      while (service.uploadsReceiving === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      await expect(upload(0)).rejects.toMatchObject({ code: 'rate_limited' });
      expect((await slow).rows).toBe(2);
      expect((await upload(0)).rows).toBe(2);
      await service.whenIdle();
      await service.close();
    });

    it('is ended with 408 when no byte comes for the stall limit, and nothing of it is kept', async () => {
      const service = importsService({ uploadPace: { stallMs: 300, idleInTransactionMs: 10_000 } });
      const before = await count('certificate_imports');
      const stalled = service.receive(await issuerPrincipal(), {
        format: 'ndjson',
        dryRun: false,
        body: pausing([ndjson(certificateBody()), ndjson(certificateBody())], 2_000),
      });
      await expect(stalled).rejects.toMatchObject({ code: 'request_timeout' });
      const after = await count('certificate_imports');
      expect(after).toBe(before);
      await service.close();
    });
  });

  describe('a database fault around the commit', () => {
    /** The service on the test's database, through a connection that can fail on demand. */
    function importsWithFaults() {
      const fault = { down: false, afterCommit: 'none' as 'none' | 'down' | 'lose-answer' };
      const failure = () =>
        Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' });
      const db = new Proxy(ctx.handle.db, {
        get(target, property) {
          const value = Reflect.get(target, property, target);
          if (typeof value !== 'function') return value;
          if (property === 'transaction')
            return async (...args: unknown[]) => {
              if (fault.down) throw failure();
              const result = await (value as (...a: unknown[]) => Promise<unknown>).apply(
                target,
                args,
              );
              // Committed; what the service sees next:
              if (fault.afterCommit === 'down') fault.down = true;
              if (fault.afterCommit === 'lose-answer') throw failure();
              return result;
            };
          return (...args: unknown[]) => {
            if (fault.down) throw failure();
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        },
      });
      return { service: importsService({ db }), fault };
    }
    const upload = (text: string) =>
      (async function* () {
        yield new TextEncoder().encode(text);
      })();

    it('the receipt is what the staging transaction wrote: a fault after its commit is no 503', async () => {
      const { service, fault } = importsWithFaults();
      const rows = ndjson(certificateBody(), certificateBody(), certificateBody());
      fault.afterCommit = 'down';
      const receipt = await service.receive(await issuerPrincipal(), {
        format: 'ndjson',
        dryRun: false,
        body: upload(rows),
      });
      expect(receipt).toMatchObject({ status: 'queued', rows: 3, imported: 0, dryRun: false });
      // The database back, the job (retrying meanwhile) imports what the receipt said.
      fault.afterCommit = 'none';
      fault.down = false;
      await service.whenIdle();
      const state = await api.get(`/v1/certificates/imports/${receipt.importId}`, issuer.key);
      expect(state.body).toMatchObject({ status: 'done', rows: 3, imported: 3 });
      await service.close();
    });

    it('an answer lost at the commit: the upload sent again under its key is the same import', async () => {
      const { service, fault } = importsWithFaults();
      const rows = ndjson(certificateBody(), certificateBody());
      const request = { format: 'ndjson' as const, dryRun: false, idempotencyKey: 'lost-answer-1' };
      fault.afterCommit = 'lose-answer';
      await expect(
        service.receive(await issuerPrincipal(), { ...request, body: upload(rows) }),
      ).rejects.toSatisfy(isDatabaseUnavailable);
      fault.afterCommit = 'none';
      const retried = await service.receive(await issuerPrincipal(), {
        ...request,
        body: upload(rows),
      });
      const imports = rowsOf<{ id: string }>(
        await ctx.handle.db.execute(
          sql`SELECT id FROM certificate_imports WHERE idempotency_key = 'lost-answer-1'`,
        ),
      );
      expect(imports).toEqual([{ id: retried.importId }]);
      await service.resumeUnfinished();
      await service.whenIdle();
      const state = await api.get(`/v1/certificates/imports/${retried.importId}`, issuer.key);
      expect(state.body).toMatchObject({ status: 'done', rows: 2, imported: 2 });
      await service.close();
    });
  });

  it('a job its issuer’s suspension stopped reports every row it did not reach', async () => {
    // Counted as failed, the rows it never reached were missing from the report (outside probe).
    const suspended = await createIssuer(ctx, { name: 'Suspended Midway Certification Co.' });
    const rows = [certificateBody(), certificateBody(), certificateBody()];
    const res = await post(ndjson(rows[0]), 'application/x-ndjson', { key: suspended.key });
    const { importId: id } = (await res.json()) as { importId: string };
    await ctx.services.certificateImports.whenIdle();
    // As a job left after its first chunk: running, two rows still staged; then the suspension.
    await ctx.handle.db.execute(
      sql`UPDATE certificate_imports SET status = 'running', rows = 3, finished_at = NULL WHERE id = ${id}`,
    );
    await ctx.handle.db.execute(
      sql`INSERT INTO certificate_import_rows (import_id, row, content) VALUES (${id}, 2, ${JSON.stringify(rows[1])}), (${id}, 3, ${JSON.stringify(rows[2])})`,
    );
    const suspension = await api.post(
      `/v1/issuers/${suspended.id}/status`,
      { status: 'suspended', reason: 'CNCA decision' },
      ctx.adminKey,
    );
    expect(suspension.status, suspension.text).toBe(200);
    expect(await ctx.services.certificateImports.resumeUnfinished()).toBe(1);
    await ctx.services.certificateImports.whenIdle();
    const state = await api.get(`/v1/certificates/imports/${id}`, suspended.key);
    expect(state.body).toMatchObject({ status: 'failed', rows: 3, imported: 1, failed: 2 });
    const report = await api.get(`/v1/certificates/imports/${id}/report.csv`, suspended.key);
    expect(report.text.trim().split('\r\n').slice(1)).toEqual(
      [2, 3].map(
        (row) =>
          `${row},,(row),not reached: the issuer was suspended while the import ran; it may not issue`,
      ),
    );
  });

  it('a job that stopped midway goes on from its last chunk after a restart', async () => {
    const rows = [certificateBody(), certificateBody(), certificateBody()];
    const { id } = await runImport(ndjson(rows[0]));
    // As a process killed after its first chunk leaves it: running, two rows still staged.
    await ctx.handle.db.execute(
      sql`UPDATE certificate_imports SET status = 'running', rows = 3, finished_at = NULL WHERE id = ${id}`,
    );
    await ctx.handle.db.execute(
      sql`INSERT INTO certificate_import_rows (import_id, row, content) VALUES (${id}, 2, ${JSON.stringify(rows[1])}), (${id}, 3, ${JSON.stringify(rows[2])})`,
    );
    expect(await ctx.services.certificateImports.resumeUnfinished()).toBe(1);
    await ctx.services.certificateImports.whenIdle();
    const state = await api.get(`/v1/certificates/imports/${id}`, issuer.key);
    expect(state.body).toMatchObject({ status: 'done', rows: 3, imported: 3, failed: 0 });
    for (const row of rows) expect(await byNumber(row.number)).toHaveLength(1);
  });
});
