import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { randomBytes, randomUUID } from 'node:crypto';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app';
import { ServiceMetrics } from '../../src/metrics/service-metrics';
import { client, createTestContext, listen, type Listening, type TestContext } from '../helpers';
import { createIssuer, issueCertificate } from '../fixtures';
import { issueMarks, type IssuedMark } from '../marks/mark-helpers';

const PROMTOOL = '/usr/bin/promtool';

interface Family {
  name: string;
  type: string;
  metrics: { value?: string; labels?: Record<string, string> }[];
}

/**
 * GET /metrics over a real loopback connection, parsed by a parser we did not write. That parser
 * merges a histogram's labelled series into one, so a histogram's samples are read as the plain
 * samples they are (`_bucket`, `_sum`, `_count`) from a copy that declares it untyped.
 */
async function scrape(server: Listening, headers: Record<string, string> = {}) {
  const res = await fetch(`${server.url}/metrics`, { headers });
  const text = await res.text();
  const untyped = text.replaceAll(/^# TYPE (\S+) histogram$/gm, '# TYPE $1 untyped');
  return {
    res,
    text,
    types: new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f.type])),
    families: parsePrometheusTextFormat(untyped) as Family[],
  };
}

/** Every sample of `name` (an untyped histogram's samples come as one family per series). */
function family(families: Family[], name: string): Family {
  const found = families.filter((f) => f.name === name);
  if (found.length === 0) throw new Error(`no metric ${name}`);
  return { ...found[0]!, metrics: found.flatMap((f) => f.metrics) };
}

/** The value of the series of `name` whose labels include `labels`. */
function value(families: Family[], name: string, labels: Record<string, string> = {}): number {
  const series = family(families, name).metrics.find((m) =>
    Object.entries(labels).every(([k, v]) => m.labels?.[k] === v),
  );
  if (!series) throw new Error(`no series ${name} ${JSON.stringify(labels)}`);
  return Number(series.value);
}

/** `promtool check metrics` on the text: its exit code and what it said. */
function promtoolCheck(text: string): Promise<{ code: number | null; output: string }> {
  const promtool = execFile(PROMTOOL, ['check', 'metrics']);
  const done = new Promise<{ code: number | null; output: string }>((resolve) => {
    let output = '';
    promtool.stdout!.on('data', (d) => (output += String(d)));
    promtool.stderr!.on('data', (d) => (output += String(d)));
    promtool.on('close', (code) => resolve({ code, output }));
  });
  promtool.stdin!.end(text);
  return done;
}

describe('GET /metrics', () => {
  let ctx: TestContext;
  let server: Listening;
  let marks: IssuedMark[];
  let credential: string;
  const api = () => client(ctx.app);

  beforeAll(async () => {
    ctx = await createTestContext();
    server = await listen(ctx.app);
    const issuer = await createIssuer(ctx);
    const certificate = await issueCertificate(api(), issuer.key);
    credential = certificate.credential;
    ({ marks } = await issueMarks(api(), issuer.key, certificate.id, { count: 3 }));
  });

  afterAll(async () => {
    await server?.close();
    await ctx?.services.marks.close();
    await ctx?.services.markVerification.close();
    await ctx?.close();
  });

  it('counts requests by route pattern and status, never by path', async () => {
    const before = await scrape(server);
    expect(before.res.status).toBe(200);
    expect(before.res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');

    // Twenty certificates that do not exist, and a mark page per issued mark: paths of their own.
    for (let i = 0; i < 20; i++) {
      expect((await api().get(`/v1/certificates/${randomUUID()}`)).status).toBe(404);
    }
    for (const mark of marks) await api().get(`/m/${mark.code}`);
    await api().get('/no/such/endpoint');
    const { text, types, families } = await scrape(server);

    expect(types.get('certmark_http_request_duration_seconds')).toBe('HISTOGRAM');
    const requests = family(families, 'certmark_http_request_duration_seconds_count');
    const routes = new Set(requests.metrics.map((m) => m.labels?.route));
    expect(routes).toContain('/v1/certificates/:id');
    expect(routes).toContain('/m/:code');
    expect(routes).toContain('(unmatched)');
    expect(
      value(families, 'certmark_http_request_duration_seconds_count', {
        method: 'GET',
        route: '/v1/certificates/:id',
        status: '404',
      }),
    ).toBe(20);
    // One series per route and status, however many paths: no code, serial or id as a label.
    expect(requests.metrics.filter((m) => m.labels?.route === '/m/:code')).toHaveLength(1);
    for (const mark of marks) {
      expect(text).not.toContain(mark.code);
      expect(text).not.toContain(mark.serial);
    }
    expect(text).not.toContain('/no/such/endpoint');
  });

  it('counts verification answers by verdict and reason', async () => {
    const before = (await scrape(server)).families;
    const authentic = await api().post('/v1/verify/mark', { code: marks[0]!.code });
    expect(authentic.body.verdict).toBe('authentic');
    const forged = await api().post('/v1/verify/mark', { code: 'NOT-A-MARK' });
    expect(forged.body.verdict).toBe('forged');
    const certificate = await api().post('/v1/verify/certificate', { credential });
    expect(certificate.body.verdict).toBe('authentic');
    const after = (await scrape(server)).families;

    const delta = (name: string, labels: Record<string, string>) =>
      value(after, name, labels) - value(before, name, labels);
    expect(delta('certmark_verifications_total', { subject: 'mark', verdict: 'authentic' })).toBe(
      1,
    );
    expect(delta('certmark_verifications_total', { subject: 'mark', verdict: 'forged' })).toBe(1);
    expect(
      delta('certmark_verifications_total', { subject: 'certificate', verdict: 'authentic' }),
    ).toBe(1);
    const forgedReason = forged.body.reasons[0].code as string;
    expect(
      delta('certmark_verification_reasons_total', { subject: 'mark', reason: forgedReason }),
    ).toBe(1);
    // The forgery's alert was stored before its answer.
    expect(delta('certmark_alert_findings_written_total', {})).toBeGreaterThanOrEqual(1);
  });

  it('shows the scan pipeline, the pool and the audit log', async () => {
    await api().post('/v1/verify/mark', { code: marks[1]!.code });
    await ctx.services.markVerification.flushScanLog();
    const { families } = await scrape(server);

    const { logWritten } = ctx.services.markVerification.scanPipelineStats();
    expect(logWritten).toBeGreaterThan(0);
    expect(value(families, 'certmark_scan_log_written_total')).toBe(logWritten);
    expect(value(families, 'certmark_scan_log_buffered')).toBe(0);
    expect(value(families, 'certmark_scan_log_flush_duration_seconds_count')).toBeGreaterThan(0);
    expect(value(families, 'certmark_scan_count_duration_seconds_count')).toBeGreaterThan(0);
    expect(value(families, 'certmark_scan_count_waiting')).toBe(0);

    expect(value(families, 'certmark_database_info', { kind: 'postgres' })).toBe(1);
    expect(value(families, 'certmark_db_breaker_open', { database: 'primary' })).toBe(0);
    const inUse = value(families, 'certmark_db_pool_connections', {
      database: 'primary',
      state: 'in_use',
    });
    const idle = value(families, 'certmark_db_pool_connections', {
      database: 'primary',
      state: 'idle',
    });
    expect(inUse + idle).toBeGreaterThan(0);
    expect(inUse + idle).toBeLessThanOrEqual(10);

    // What sequencingLag() says, as a gauge.
    const lag = await ctx.services.audit.sequencingLag();
    expect(value(families, 'certmark_audit_sequencing_pending_entries')).toBe(lag.pendingEntries);
  });

  it.skipIf(!fs.existsSync(PROMTOOL))('passes promtool check metrics', async () => {
    const { text } = await scrape(server);
    expect(await promtoolCheck(text)).toEqual({ code: 0, output: '' });
    // With the process's own metrics, as `npm start` serves them.
    const withProcess = new ServiceMetrics({ processMetrics: true });
    expect(await promtoolCheck((await withProcess.render()).body)).toEqual({ code: 0, output: '' });
  });

  describe('who may read them', () => {
    const from = (remoteAddress: string) => ({ incoming: { socket: { remoteAddress } } });

    it('answers loopback clients only when no token is set', async () => {
      const outside = await ctx.app.request('/metrics', {}, from('203.0.113.9'));
      expect(outside.status).toBe(403);
      expect(outside.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect((await outside.json()).code).toBe('forbidden');
      expect((await ctx.app.request('/metrics', {}, from('::1'))).status).toBe(200);
      expect((await ctx.app.request('/metrics', {}, from('::ffff:127.0.0.1'))).status).toBe(200);
      // A proxy on this host connects from loopback for anyone: a forwarded request is refused,
      // whatever address the header claims.
      const proxied = await fetch(`${server.url}/metrics`, {
        headers: { 'x-forwarded-for': '127.0.0.1' },
      });
      expect(proxied.status).toBe(403);
      await proxied.body?.cancel();
    });

    it('asks for METRICS_TOKEN when it is set, from anywhere', async () => {
      const token = randomBytes(24).toString('base64url');
      const app = createApp({
        db: ctx.handle.db,
        config: { ...ctx.config, metricsToken: token },
        keys: ctx.keys,
        clock: ctx.clock,
      });
      const outside = from('203.0.113.9');
      const none = await app.request('/metrics', {}, outside);
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect((await none.json()).code).toBe('unauthorized');
      const wrong = await app.request(
        '/metrics',
        { headers: { authorization: `Bearer ${token}x` } },
        outside,
      );
      expect(wrong.status).toBe(401);
      // Loopback is no way around the token.
      expect((await app.request('/metrics', {}, from('127.0.0.1'))).status).toBe(401);
      // An admin API key is not the metrics token.
      const admin = await app.request(
        '/metrics',
        { headers: { authorization: `Bearer ${ctx.adminKey}` } },
        outside,
      );
      expect(admin.status).toBe(401);
      const right = await app.request(
        '/metrics',
        { headers: { authorization: `Bearer ${token}` } },
        outside,
      );
      expect(right.status).toBe(200);
      expect(await right.text()).toContain('certmark_http_request_duration_seconds');
    });
  });
});
