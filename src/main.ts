import pino from 'pino';
import { createApp, createServices } from './app';
import { systemClock } from './clock';
import { ADMIN_KEY_MIN_LENGTH, ConfigError, loadConfig } from './config';
import { openDatabase, openReadReplica } from './db/client';
import { DataDirInUseError } from './db/data-dir-lock';
import { connectionRefusal } from './db/database-breaker';
import { ReadRouter } from './db/read-replica';
import { KeyMaterialError, loadKeyMaterial } from './keystore/key-material';
import { isDatabaseUnavailable } from './errors';
import { logDestination } from './shared/log-destination';
import { loggableError } from './shared/loggable-error';
import { ScanLogPartitions } from './marks/scan-log-partitions';
import { CompromiseSweeper } from './certificates/compromise-sweeper';
import { WebhookDispatcher } from './subscriptions/webhook-dispatcher';
import { bindPort } from './http/listener';
import { allowedMethods } from './http/allowed-methods';

/**
 * The only place with side effects at start: config → port → keys → database (migrated) → app →
 * serve. Nothing is written before the configuration is valid and the port is bound: a busy port
 * or a bad setting is one line on stderr and exit 1, with no key generated, no database opened,
 * migrated or seeded and no admin key printed.
 */
async function main(): Promise<void> {
  const requested = loadConfig();
  // From SIGTERM or SIGINT to exit; past it the process exits anyway, saying so (exit code 1).
  const { shutdownBoundMs } = requested;
  const listener = await bindPort(requested.port);
  // PORT=0: the default public URL names the port actually bound.
  const config = requested.port === 0 ? loadConfig(undefined, { port: listener.port }) : requested;
  // Asynchronous and bounded: a stalled log reader neither holds up answers nor the exit.
  const destination = logDestination((lines) =>
    logger.warn({ lines }, 'log lines dropped while the log reader did not keep up'),
  );
  process.on('exit', () => destination.flushAtExit());
  // A reader that has gone (`… | head`): the rest of stdout is lost, and the service goes on (the
  // log destination stops writing too). Unhandled, the first write after it ended the process.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  });
  const logger = pino(
    {
      level: config.logLevel,
      base: { svc: 'certmark' },
      // Whatever is logged as `err`, never a failed query's SQL and parameters, never a whole token.
      serializers: { err: loggableError },
    },
    destination.stream,
  );
  // A signal while starting is honoured once the start is complete (or the bound runs out).
  const stopping: { stop?: () => Promise<void>; requested?: boolean; phase?: string } = {};
  let deadline: NodeJS.Timeout | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (deadline) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    deadline = setTimeout(() => {
      logger.error(
        { boundMs: shutdownBoundMs, waitingFor: stopping.phase ?? 'the start' },
        'shutdown did not finish within its bound: exiting now',
      );
      process.exit(1);
    }, shutdownBoundMs);
    deadline.unref();
    logger.info({ signal }, 'shutting down');
    if (stopping.stop) void stopping.stop();
    else stopping.requested = true;
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // A defect no handler caught ends the process as Node would (exit 1), but as one log line like
  // any other: the error's class and message, never its stack or a failed query's SQL.
  const crash = (kind: string) => (error: unknown) => {
    logger.fatal({ err: loggableError(error), during: stopping.phase ?? 'service' }, kind);
    process.exit(1);
  };
  process.on('uncaughtException', crash('uncaught exception: exiting'));
  process.on('unhandledRejection', crash('unhandled rejection: exiting'));

  const keys = loadKeyMaterial({
    keysDir: config.keysDir,
    production: config.production,
    onGenerated: (file) => logger.warn({ file }, 'generated new key material (not for production)'),
  });
  const database = await openWhenReachable(
    () =>
      openDatabase({
        databaseUrl: config.databaseUrl,
        dataDir: config.dataDir,
        onAvailabilityChange: (state, why) => {
          if (state === 'open') logger.warn({ why }, 'database unreachable: answering 503 at once');
          else logger.info({ why }, 'database reachable again');
        },
      }),
    logger,
    stopping,
  );
  logger.info({ database: database.kind }, 'database ready, migrations applied');

  // Public reads on a replica within the staleness bound, when one is configured (PostgreSQL only).
  const replica =
    config.databaseReadUrl && database.kind === 'postgres'
      ? await openReadReplica({ databaseUrl: config.databaseReadUrl })
      : undefined;
  if (config.databaseReadUrl && !replica)
    logger.warn('DATABASE_READ_URL needs DATABASE_URL (PostgreSQL): public reads stay on PGlite');
  const reads = new ReadRouter({
    primary: database.db,
    replica: replica?.db,
    maxStalenessMs: config.readMaxStalenessMs,
    logger,
  });
  await reads.start();

  const deps = {
    db: database.db,
    config,
    keys,
    clock: systemClock,
    logger,
    ping: database.ping,
    reads,
    processMetrics: true,
  };
  const services = createServices(deps);
  // Keys of another deployment would start, then fail every signature with a 500, or sign the log
  // with another key than its own: refuse at once.
  await services.vault.assertOpens(database.db);
  await services.audit.assertSignsItsLog();
  const app = createApp(deps, services);

  if (config.adminApiKey) {
    if (config.adminApiKey.length < ADMIN_KEY_MIN_LENGTH) {
      logger.warn(
        `ADMIN_API_KEY is shorter than ${ADMIN_KEY_MIN_LENGTH} characters (128 bits of base64): use a random key`,
      );
    }
    await services.apiKeys.ensureAdminKey(config.adminApiKey, {
      onRevived: ({ apiKeyId, revokedAt }) =>
        logger.warn(
          { apiKeyId, revokedAt: revokedAt?.toISOString() ?? null },
          'ADMIN_API_KEY names a key that had been revoked or replaced: it is an active admin key again',
        ),
    });
  } else {
    // First start: an admin key so the operator can create issuers. Shown once, never stored in clear.
    const key = await services.apiKeys.createFirstAdminKey();
    if (key) {
      process.stdout.write(
        `\n  Bootstrap admin API key (shown once, store it now):\n\n    ${key}\n\n`,
      );
    }
  }

  const foreignOrigin = await services.audit.foreignOrigin();
  if (foreignOrigin)
    logger.warn(
      { stored: foreignOrigin, configured: config.logOrigin },
      'the latest log checkpoint was signed under another origin: set LOG_ORIGIN (or PUBLIC_BASE_URL) alike on every instance of this database',
    );

  // After an update to positional serials: the older batches' serials are read once so that no new
  // serial can equal one of theirs, and their unfinished batches are numbered (see upgradeSerials).
  const olderSerials = await services.marks.upgradeSerials();
  if (olderSerials > 0) logger.info({ serials: olderSerials }, 'older mark serials read');

  if (process.argv.includes('--demo')) {
    const { seedDemo } = await import('./demo/seed');
    await seedDemo({ ...deps, services });
  }

  // Imports whose job stopped with a previous process (or another instance that died) go on from
  // their last chunk.
  const imports = await services.certificateImports.keepImportsMoving();
  if (imports > 0) logger.info({ imports }, 'resuming unfinished certificate imports');

  // Credentials signed in an older format are signed again in the background (given their status
  // list entries), and batches issued before status lists get theirs; until then the stored
  // credential still verifies (the registry is the truth).
  void services.marks
    .giveBatchesStatusLists()
    .then(() => services.certificates.upgradeCredentials())
    .then((resigned) => {
      if (resigned > 0) logger.info({ resigned }, 'credentials signed again in the current format');
    })
    .catch((error: unknown) =>
      logger.error(
        { err: loggableError(error) },
        'credential upgrade failed; retried at next start',
      ),
    );
  // A compromise's signing again that a stop, a crash or another instance's end cut short goes
  // on, whatever becomes of the above: now, and at every look after.
  const compromiseSweeper = new CompromiseSweeper({ certificates: services.certificates, logger });
  compromiseSweeper.start();

  // The scan log's monthly partitions: made ahead, and dropped past SCAN_RETENTION_DAYS, hourly.
  const scanLogPartitions = new ScanLogPartitions({
    db: database.db,
    clock: systemClock,
    retentionDays: config.scanRetentionDays,
    logger,
  });
  scanLogPartitions.start();
  // Webhook deliveries: pg-boss with PostgreSQL, an in-process drain with the embedded PGlite.
  // What was pending when the previous process stopped is sent now.
  const webhooks = new WebhookDispatcher({
    db: database.db,
    kind: database.kind,
    databaseUrl: config.databaseUrl,
    kek: keys.kek,
    production: config.production,
    timeoutMs: config.webhooks.timeoutMs,
    retryDelaySeconds: config.webhooks.retryDelaySeconds,
    logger,
  });
  await webhooks.start();

  // Audit entries committed by any instance are integrated into the log and checkpointed here
  // (one sequencer at a time across instances; see src/audit/sequencer.ts).
  services.audit.startSequencer();
  // Each new checkpoint goes to the witnesses (WITNESSES) in the background: a slow or unreachable
  // witness never holds up a write (see src/audit/witnessing.ts).
  services.audit.startWitnessing();

  // What the listener answers before the app (a request the parser or router refuses) is logged
  // here, one line each, as the app logs the rest.
  listener.serve(
    app.fetch,
    (refusal) => logger.info(refusal, 'request refused before routing'),
    allowedMethods(app),
  );
  logger.info({ port: listener.port, url: config.publicBaseUrl }, 'certmark listening');

  /**
   * Stop accepting and answer what was received; meanwhile the background work stops (what it
   * leaves is picked up at the next start of any instance: audit entries to integrate, webhook
   * deliveries, imports). Then every scan answered is counted and logged, alerts are written,
   * and the pools close. Imports stop after the chunk they are writing and stay resumable.
   */
  stopping.stop = async () => {
    const began = performance.now();
    // What is left of the bound, less `marginMs` for the steps after the one asking.
    const left = (marginMs: number) =>
      Math.max(0, shutdownBoundMs - marginMs - (performance.now() - began));
    const background = Promise.allSettled([
      scanLogPartitions.stop(),
      compromiseSweeper.stop(),
      services.audit.sequencer.stop(),
      services.audit.witnessing?.stop(),
      // pg-boss waits for a delivery in flight: it is retried after the next start if cut short.
      within(webhooks.stop(), left(1_000)),
    ]);
    // Answers in flight get most of the bound; streams still running then (a long label PDF or
    // export) are cut, so the rest of the shutdown still fits in it.
    stopping.phase = 'answers';
    const cut = await listener.close(left(3_000));
    if (cut > 0) logger.warn({ connections: cut }, 'answers still streaming were cut at shutdown');
    stopping.phase = 'mark signing and imports';
    await services.marks.close().catch(() => {});
    // Imports stop after the chunk they are writing and go on at the next start.
    await services.certificateImports.close().catch(() => {});
    stopping.phase = 'scans';
    // While the database is away, the scan log and the alerts are tried again within the bound.
    await services.markVerification
      .close(left(2_000))
      .catch((error: unknown) =>
        logger.error({ err: loggableError(error) }, 'scans could not be written at shutdown'),
      );
    stopping.phase = 'alerts';
    await services.alerts.close(left(1_000)).catch(() => {});
    // What is left is clean-up, nothing unwritten: the background loops resume at any next start,
    // and a pool still lending a connection (a query the cut answer left running) is closed by the
    // exit itself. So each waits only while the bound leaves time.
    stopping.phase = 'background work';
    await within(background, left(500));
    stopping.phase = 'database pools';
    await within(
      Promise.allSettled([reads.close(), replica?.close(), database.close()]),
      left(250),
    );
    logger.info({ ms: Math.round(performance.now() - began) }, 'stopped');
    // Lines still on their way to a log reader that fell behind are finished, not cut at exit.
    stopping.phase = 'log lines';
    // A margin before the bound's own timer, which would exit 1 for a stop whose work is done.
    await destination.settle(left(100));
    process.exit(0);
  };
  if (stopping.requested) void stopping.stop();
}

/** The longest wait between two tries to reach the database at start. */
const START_RETRY_MAX_MS = 5_000;

/**
 * Opens (and migrates) the database, waiting out one that cannot be reached yet (SPEC "Service":
 * the service recovers by itself): a database that starts after the service, or restarts while it
 * starts. Meanwhile the listener answers 503 `service_starting` with Retry-After; each failed try
 * is one warn line, and tries back off to every 5 s. Anything else (a refused password, a failed
 * migration) fails the start as before; a signal while waiting stops it.
 */
async function openWhenReachable<T>(
  open: () => Promise<T>,
  logger: pino.Logger,
  stopping: { requested?: boolean },
): Promise<T> {
  for (let attempt = 1, waitMs = 250; ; attempt++) {
    try {
      return await open();
    } catch (error) {
      // A database that accepts no connections may never: say so, as for any other refusal.
      const refusal = connectionRefusal(error);
      if (refusal) throw refusal;
      if (!isDatabaseUnavailable(error)) throw error;
      if (stopping.requested) {
        logger.info('stopped while waiting for the database');
        process.exit(0);
      }
      logger.warn(
        { attempt, retryInMs: waitMs, err: loggableError(error) },
        'database unreachable at start: waiting for it',
      );
      await new Promise((resolve) => setTimeout(resolve, waitMs));
      waitMs = Math.min(waitMs * 2, START_RETRY_MAX_MS);
    }
  }
}

/** Waits for `promise`, but no longer than `ms`. */
function within(promise: Promise<unknown>, ms: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.catch(() => {}),
    new Promise((resolve) => (timer = setTimeout(resolve, ms))),
  ]).finally(() => clearTimeout(timer));
}

/** What the database's refusal to let the service start means, by SQLSTATE, in the operator's words. */
const DATABASE_START_PROBLEMS: Record<string, string> = {
  '3D000': 'the database DATABASE_URL names does not exist',
  '28000':
    'the database refused the role DATABASE_URL names (no such role, or not allowed to connect)',
  '28P01': 'the database refused the password DATABASE_URL gives',
  '42501': 'the role DATABASE_URL names lacks a privilege the migrations need',
  '53300': 'the database has no connection left for the service (too many connections)',
  '57P03': 'the database is starting up or shutting down',
  '55000':
    'the database DATABASE_URL names accepts no connections (ALLOW_CONNECTIONS false, a database left invalid by an interrupted DROP DATABASE, or template0)',
};

/**
 * The one line an operator reads when the service cannot start: the message, never a stack. Key
 * and data-folder errors are composed from file names, never their contents, and are said whole
 * (which file is wrong is the point); other messages have token-like runs cut; of a database error
 * only its SQLSTATE is known to be safe (its message may quote SQL and parameters), said in words
 * where it is a usual one.
 */
function startFailure(error: unknown): string {
  // A configuration error names its variable and never quotes a value: said whole (cut like a
  // token, WEBHOOK_RETRY_DELAY_SECONDS read "WEBHOO…").
  if (
    error instanceof KeyMaterialError ||
    error instanceof DataDirInUseError ||
    error instanceof ConfigError
  )
    return error.message;
  const { name, code, message } = loggableError(error);
  if (message !== undefined) return message;
  const meaning = code === undefined ? undefined : DATABASE_START_PROBLEMS[code];
  return meaning ? `${meaning} (SQLSTATE ${code})` : `${name} ${code ?? ''}`.trim();
}

main().catch((error: unknown) => {
  process.stderr.write(`certmark failed to start: ${startFailure(error)}\n`);
  process.exit(1);
});
