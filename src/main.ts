import { serve } from '@hono/node-server';
import pino from 'pino';
import { createApp, createServices } from './app';
import { systemClock } from './clock';
import { loadConfig } from './config';
import { openDatabase, openReadReplica } from './db/client';
import { ReadRouter } from './db/read-replica';
import { loadKeyMaterial } from './keystore/key-material';
import { generateApiKey } from './auth/api-key';
import { loggableError } from './shared/loggable-error';
import { ScanLogPartitions } from './marks/scan-log-partitions';
import { WebhookDispatcher } from './subscriptions/webhook-dispatcher';

/**
 * The only place with side effects at start: config → keys → database (migrated) → app → serve.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  const logger = pino({
    level: config.logLevel,
    base: { svc: 'certmark' },
    // Whatever is logged as `err`, never a failed query's SQL and parameters, never a whole token.
    serializers: { err: loggableError },
  });
  const keys = loadKeyMaterial({
    keysDir: config.keysDir,
    production: config.production,
    onGenerated: (file) => logger.warn({ file }, 'generated new key material (not for production)'),
  });
  const database = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    onAvailabilityChange: (state, why) => {
      if (state === 'open') logger.warn({ why }, 'database unreachable: answering 503 at once');
      else logger.info({ why }, 'database reachable again');
    },
  });
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
  // Keys of another deployment would start, then fail every signature with a 500: refuse at once.
  await services.vault.assertOpens(database.db);
  const app = createApp(deps, services);

  if (config.adminApiKey) {
    if (config.adminApiKey.length < 22) {
      logger.warn(
        'ADMIN_API_KEY is shorter than 22 characters (128 bits of base64): use a random key',
      );
    }
    await services.apiKeys.ensureAdminKey(config.adminApiKey);
  } else if (!(await services.apiKeys.hasActiveAdminKey())) {
    // First start: an admin key so the operator can create issuers. Shown once, never stored in clear.
    const key = generateApiKey();
    await services.apiKeys.ensureAdminKey(key);
    process.stdout.write(
      `\n  Bootstrap admin API key (shown once, store it now):\n\n    ${key}\n\n`,
    );
  }

  if (process.argv.includes('--demo')) {
    const { seedDemo } = await import('./demo/seed');
    await seedDemo({ ...deps, services });
  }

  // Mark batches whose job died with a previous process (a crash, a kill), or whose fill never
  // started (the database dropped out as the batch was recorded), are filled to the end.
  const resumed = await services.marks.keepBatchesMoving();
  if (resumed > 0) logger.info({ batches: resumed }, 'resuming unfinished mark batches');

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

  const server = serve({ fetch: app.fetch, port: config.port }, (info) => {
    logger.info({ port: info.port, url: config.publicBaseUrl }, 'certmark listening');
  });

  const shutdown = async (signal: string) => {
    logger.info({ signal }, 'shutting down');
    server.close();
    await scanLogPartitions.stop().catch(() => {});
    await webhooks.stop().catch(() => {});
    await services.audit.sequencer.stop().catch(() => {});
    await services.audit.witnessing?.stop().catch(() => {});
    await reads.close().catch(() => {});
    await replica?.close().catch(() => {});
    await services.marks.close().catch(() => {});
    await services.markVerification.close().catch(() => {});
    await services.alerts.close().catch(() => {});
    await database.close().catch(() => {});
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
}

main().catch((error: unknown) => {
  // Configuration and key errors are meant for the operator; print the message, not a stack (and
  // of a database error only its class and SQLSTATE: its message may quote SQL and parameters).
  const { name, code, message } = loggableError(error);
  process.stderr.write(`certmark failed to start: ${message ?? `${name} ${code ?? ''}`}\n`);
  process.exit(1);
});
