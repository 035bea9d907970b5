import { Writable } from 'node:stream';
import { sql } from 'drizzle-orm';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKey } from '../../src/crypto/ed25519';
import { createMarkCode } from '../../src/crypto/mark-code';
import { generateSerial } from '../../src/crypto/serial';
import { rowsOf, type Database } from '../../src/db/client';
import { AlertWriter } from '../../src/supervision/alert-writer';
import type { AlertSignal } from '../../src/verification/alert-sink';
import { createIssuer, createRoleKey, type IssuerFixture } from '../fixtures';
import { client, createTestContext, type Client, type TestContext } from '../helpers';

/**
 * Alerts under a flood of forgeries: a stream of invented serials counts on one alert per claimed
 * key (or channel) and reason, opened and audited once; every finding is stored, or retried while
 * the database is away, or (only when it cannot be stored at all) counted and logged as lost.
 */
describe('alerts under a flood of forgeries', () => {
  let ctx: TestContext;
  let api: Client;
  let issuer: IssuerFixture;
  let supervisor: string;
  const logLines: string[] = [];

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk, _encoding, done) {
        logLines.push(...String(chunk).split('\n').filter(Boolean));
        done();
      },
    });
    ctx = await createTestContext({}, { logger: pino({ level: 'info' }, sink) });
    api = client(ctx.app);
    issuer = await createIssuer(ctx);
    supervisor = await createRoleKey(ctx, 'supervisor');
  });
  afterAll(async () => ctx?.close());

  const openAlerts = async () =>
    (await api.get('/v1/alerts?status=open&pageSize=100', supervisor)).body.items as any[];
  const auditOpens = async (alertId: string) =>
    rowsOf<{ n: string }>(
      await ctx.handle.db.execute(
        sql`SELECT count(*) AS n FROM audit_log WHERE action = 'alert.open' AND subject_id = ${alertId}`,
      ),
    )[0]!.n;

  it('counts forged marks with fresh serials, sent at once, on one alert per claimed key or channel', async () => {
    const stranger = generateSigningKey().seed;
    const forgedCodes = Array.from({ length: 60 }, () =>
      createMarkCode({ seed: stranger, kid: issuer.kid, serial: generateSerial() }),
    );
    const junk = Array.from({ length: 20 }, (_, i) => `not a mark ${i}`);
    const typed = Array.from({ length: 20 }, () => generateSerial());
    const before = ctx.services.alerts.alertWriteStats();
    const answers = await Promise.all(
      [...forgedCodes, ...junk, ...typed].map((code, i) =>
        api.post('/v1/verify/mark', { code, location: { region: i % 2 ? '440300' : '350100' } }),
      ),
    );
    expect(answers.every((a) => a.status === 200 && a.body.verdict === 'forged')).toBe(true);

    const alerts = await openAlerts();
    const signed = alerts.filter(
      (a) => a.subjectType === 'signing_key' && a.subject === issuer.kid,
    );
    expect(signed.map((a) => [a.reason, a.count])).toEqual([['BAD_SIGNATURE', 60]]);
    expect(signed[0]).toMatchObject({ issuerId: issuer.id, regions: ['350100', '440300'] });
    // The codes themselves never reach an alert, only a serial.
    expect(JSON.stringify(signed[0])).not.toContain(forgedCodes[0]);
    expect(signed[0].raisedBy.context.serial).toMatch(/^\d{16}$/);

    const unattributed = alerts
      .filter((a) => a.subjectType === 'unattributed' && a.subject === 'verify.mark')
      .map((a) => [a.reason, a.count])
      .sort();
    expect(unattributed).toEqual([
      ['MALFORMED', 20],
      ['NOT_IN_REGISTRY', 20],
    ]);
    // Opened (and audited) once each; the other findings only count.
    for (const alert of [...signed, ...alerts.filter((a) => a.subjectType === 'unattributed')])
      expect(await auditOpens(alert.id)).toBe('1');

    const after = ctx.services.alerts.alertWriteStats();
    expect(after.findings - before.findings).toBe(100);
    expect(after.written - before.written).toBe(100);
    expect(after).toMatchObject({ pending: 0, lost: before.lost });
  });

  it('stores every finding of a stream of concurrent forgeries (no finding lost under load)', async () => {
    const total = async () =>
      Number(
        rowsOf<{ n: string }>(
          await ctx.handle.db.execute(sql`SELECT coalesce(sum(count), 0) AS n FROM alerts`),
        )[0]!.n,
      );
    const before = await total();
    const stranger = generateSigningKey().seed;
    for (let wave = 0; wave < 4; wave++) {
      await Promise.all(
        Array.from({ length: 50 }, () =>
          api.post('/v1/verify/mark', {
            code: createMarkCode({ seed: stranger, kid: issuer.kid, serial: generateSerial() }),
            // A presenter no one holds: still counted, the USCC kept in the context.
            presenter: { uscc: '914403001922038216' },
          }),
        ),
      );
    }
    // Every answer was sent after its finding was stored: nothing to flush.
    expect((await total()) - before).toBe(200);
  });

  it('keeps the findings while the database is away and writes them when it returns', async () => {
    let refusals = 3;
    const db = ctx.handle.db;
    const flaky = new Proxy(db, {
      get(target, property, receiver) {
        if (property === 'transaction' && refusals > 0) {
          return () => {
            refusals -= 1;
            return Promise.reject(
              Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), {
                code: 'ECONNREFUSED',
              }),
            );
          };
        }
        return Reflect.get(target, property, receiver) as unknown;
      },
    }) as Database;
    const lines: string[] = [];
    const logger = pino(
      { level: 'info' },
      new Writable({
        write(chunk, _encoding, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    );
    const writer = new AlertWriter(flaky, { logger, retryDelayMs: 10_000 });
    const signal = (serial: string): AlertSignal => ({
      subjectType: 'signing_key',
      subject: 'kid-away',
      verdict: 'forged',
      reasons: [{ code: 'BAD_SIGNATURE', message: 'the signature does not verify' }],
      channel: 'verify.mark',
      at: ctx.clock.now(),
      context: { serial },
    });
    // The database refuses: raise() answers anyway (never rejects), the findings wait.
    await expect(writer.raise(signal('1111111111111111'))).resolves.toBeUndefined();
    await expect(writer.raise(signal('2222222222222222'))).resolves.toBeUndefined();
    expect(writer.stats).toMatchObject({ findings: 2, written: 0, pending: 2, lost: 0 });
    expect(writer.stats.failedWrites).toBeGreaterThanOrEqual(1);
    expect(lines.join('')).toContain('alerts not written');
    expect(lines.join('')).toContain('ECONNREFUSED');

    // Back: the retry writes both as one alert counting 2.
    refusals = 0;
    await writer.flush();
    expect(writer.stats).toMatchObject({ written: 2, pending: 0, lost: 0 });
    const [row] = rowsOf<{ count: number; last_context: { serial: string } }>(
      await db.execute(
        sql`SELECT count, last_context FROM alerts WHERE subject = 'kid-away' AND status = 'open'`,
      ),
    );
    expect(row).toMatchObject({ count: 2, last_context: { serial: '2222222222222222' } });
    await writer.close();
  });

  it('at shutdown, keeps trying while the database is away within the time it is given', async () => {
    let refusing = true;
    const db = ctx.handle.db;
    const flaky = new Proxy(db, {
      get(target, property, receiver) {
        if (property === 'transaction' && refusing) {
          return () =>
            Promise.reject(
              Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), {
                code: 'ECONNREFUSED',
              }),
            );
        }
        return Reflect.get(target, property, receiver) as unknown;
      },
    }) as Database;
    const signal = (subject: string): AlertSignal => ({
      subjectType: 'signing_key',
      subject,
      verdict: 'forged',
      reasons: [{ code: 'BAD_SIGNATURE', message: 'the signature does not verify' }],
      channel: 'verify.mark',
      at: ctx.clock.now(),
    });
    // Away for 600 ms of a 3 s shutdown: written when it is back, nothing lost.
    const back = new AlertWriter(flaky, { retryDelayMs: 10_000 });
    await back.raise(signal('kid-shutdown-back'));
    setTimeout(() => (refusing = false), 600);
    await back.close(3_000);
    expect(back.stats).toMatchObject({ findings: 1, written: 1, pending: 0, lost: 0 });
    // Away for the whole of a 300 ms shutdown: lost, and counted so.
    refusing = true;
    const gone = new AlertWriter(flaky, { retryDelayMs: 10_000 });
    await gone.raise(signal('kid-shutdown-gone'));
    const started = performance.now();
    await gone.close(300);
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect(gone.stats).toMatchObject({ findings: 1, written: 0, pending: 0, lost: 1 });
    refusing = false;
  });

  it('writes the rest of a batch when one alert cannot be stored, and counts and logs that one', async () => {
    const lines: string[] = [];
    const logger = pino(
      { level: 'info' },
      new Writable({
        write(chunk, _encoding, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    );
    const writer = new AlertWriter(ctx.handle.db, { logger });
    const at = ctx.clock.now();
    const signal = (subject: string, issuerId: string | null): AlertSignal => ({
      subjectType: 'code',
      subject,
      verdict: 'forged',
      reasons: [{ code: 'NOT_IN_REGISTRY', message: 'no such certificate' }],
      issuerId,
      channel: 'verify.certificate',
      at,
      context: { number: subject },
    });
    // An issuer that does not exist breaks the foreign key: that alert alone cannot be stored.
    await Promise.all([
      writer.raise(signal('batch-ok-1', null)),
      writer.raise(signal('batch-bad', '00000000-0000-4000-8000-00000000dead')),
      writer.raise(signal('batch-ok-2', issuer.id)),
    ]);
    await writer.close();
    expect(writer.stats).toMatchObject({ findings: 3, written: 2, lost: 1, pending: 0 });
    const stored = rowsOf<{ subject: string }>(
      await ctx.handle.db.execute(
        sql`SELECT subject FROM alerts WHERE subject LIKE 'batch-%' ORDER BY subject`,
      ),
    ).map((r) => r.subject);
    expect(stored).toEqual(['batch-ok-1', 'batch-ok-2']);
    const log = lines.join('');
    expect(log).toContain('alert findings lost');
    expect(log).toContain('"lost":1');
    // By error class and SQLSTATE only: never the statement or its values.
    expect(log).toContain('23503');
    expect(log).not.toContain('INSERT');
    expect(log).not.toContain('batch-bad');
  });

  it('leaves no secret in the log lines of the run', () => {
    const text = logLines.join('\n');
    expect(text).not.toMatch(/cm_[A-Za-z0-9_-]{20,}/);
    expect(text).not.toMatch(/[A-Z2-7]{120}/);
  });
});
