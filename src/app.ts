import { OpenAPIHono } from '@hono/zod-openapi';
import { getConnInfo } from '@hono/node-server/conninfo';
import { HTTPException } from 'hono/http-exception';
import type { Context } from 'hono';
import pino, { type Logger } from 'pino';
import type { Config } from './config';
import type { Clock } from './clock';
import type { Database } from './db/client';
import { ReadRouter } from './db/read-replica';
import type { KeyMaterial } from './keystore/key-material';
import { AppError, isDatabaseUnavailable, problemResponse } from './errors';
import { StaticPathRouter } from './http/static-path-router';
import { loggableError } from './shared/loggable-error';
import type { AppEnv } from './http/env';
import {
  bodyLimit,
  RateLimiter,
  rateLimit,
  refuseContentCoding,
  requestFrame,
} from './http/middleware';
import { clientAddressOf, rateLimitKey } from './http/client-address';
import { allowedMethods, literalSegmentsFirst } from './http/allowed-methods';
import { pageRateLimited, problems, publicAccess } from './http/openapi';
import { authenticate } from './auth/auth.middleware';
import { KeyVault } from './issuers/key-vault';
import { IssuersService } from './issuers/issuers.service';
import { issuersRoutes } from './issuers/issuers.routes';
import { ApiKeysService } from './api-keys/api-keys.service';
import { apiKeysRoutes } from './api-keys/api-keys.routes';
import { platformJwk } from './keystore/platform-key';
import { healthRoutes } from './http/health.routes';
import { apiReferenceRoutes } from './http/api-reference.routes';
import { jwksRoutes } from './issuers/jwks.routes';
import { CertificatesService } from './certificates/certificates.service';
import { certificatesRoutes } from './certificates/certificates.routes';
import { credentialsRoutes } from './credentials/credentials.routes';
import { StatusListsService } from './status-lists/status-lists.service';
import { statusListsRoutes } from './status-lists/status-lists.routes';
import { OfflineBundleService } from './offline-bundle/offline-bundle.service';
import { offlineBundleRoutes } from './offline-bundle/offline-bundle.routes';
import { VerificationService } from './verification/verification.service';
import { verificationRoutes } from './verification/verification.routes';
import { MarkVerificationService } from './verification/mark-verification.service';
import { CustomsService } from './customs/customs.service';
import { customsRoutes } from './customs/customs.routes';
import { type AlertSink } from './verification/alert-sink';
import { AlertsService } from './supervision/alerts.service';
import { alertsRoutes } from './supervision/alerts.routes';
import { ReportsService } from './supervision/reports.service';
import { reportsRoutes } from './supervision/reports.routes';
import { SUPERVISOR_COOKIE, supervisorPage } from './supervision/supervisor.page';
import { SupervisorConsole } from './supervision/console/console.service';
import { deriveSessionSecret } from './auth/session';
import { deriveMarkSerialKey, MarkSerialCipher } from './crypto/mark-serial-cipher';
import { PageSessions } from './auth/page-sessions';
import { AuditService } from './audit/audit.service';
import { logRoutes } from './audit/log.routes';
import { auditRoutes } from './audit/audit.routes';
import { InspectionsService } from './inspections/inspections.service';
import { inspectionsRoutes } from './inspections/inspections.routes';
import { MarksService } from './marks/marks.service';
import { marksRoutes } from './marks/marks.routes';
import { webRoutes } from './web/web.routes';
import {
  isPageRequest,
  rateLimitedPageResponse,
  unreadableLinkResponse,
} from './web/page-refusals';
import { SubscriptionsService } from './subscriptions/subscriptions.service';
import { subscriptionsRoutes } from './subscriptions/subscriptions.routes';
import { deriveRepeatViewsSecret } from './web/repeat-views';
import { ServiceMetrics } from './metrics/service-metrics';
import { metricsRoutes } from './metrics/metrics.routes';
import { CertificateImportsService } from './certificate-imports/imports.service';
import { certificateImportsRoutes, IMPORTS_PATH } from './certificate-imports/imports.routes';

export interface AppDeps {
  db: Database;
  config: Config;
  keys: KeyMaterial;
  clock: Clock;
  logger?: Logger;
  /** Pings the database for /readyz. */
  ping?: () => Promise<void>;
  /** Where public reads go (a replica within its staleness bound); the primary when absent. */
  reads?: ReadRouter;
  /** The process's own metrics (CPU, memory, event loop) beside the service's: main.ts only. */
  processMetrics?: boolean;
}

export interface Services {
  issuers: IssuersService;
  apiKeys: ApiKeysService;
  vault: KeyVault;
  certificates: CertificatesService;
  certificateImports: CertificateImportsService;
  statusLists: StatusListsService;
  offlineBundle: OfflineBundleService;
  verification: VerificationService;
  markVerification: MarkVerificationService;
  customs: CustomsService;
  alerts: AlertsService;
  reports: ReportsService;
  audit: AuditService;
  inspections: InspectionsService;
  marks: MarksService;
  subscriptions: SubscriptionsService;
  /** Signed-in browser sessions of the server-rendered pages. */
  pageSessions: PageSessions;
  /** This app's metrics registry (GET /metrics). */
  metrics: ServiceMetrics;
}

/** Builds the services from their dependencies; no I/O happens here. */
export function createServices(deps: AppDeps): Services {
  const { db, clock, config } = deps;
  const reads = deps.reads ?? new ReadRouter({ primary: db });
  // A registry per app: tests make many apps in one process, each with its own figures.
  const metrics = new ServiceMetrics({ processMetrics: deps.processMetrics, logger: deps.logger });
  const vault = new KeyVault(deps.keys.kek);
  const statusLists = new StatusListsService(
    db,
    vault,
    clock,
    config.publicBaseUrl,
    undefined,
    reads,
  );
  const certificates = new CertificatesService(
    db,
    vault,
    clock,
    config.publicBaseUrl,
    statusLists,
    reads,
  );
  const alerts = new AlertsService(db, clock, { logger: deps.logger });
  const alertSink: AlertSink = alerts;
  const issuers = new IssuersService(
    db,
    vault,
    clock,
    certificates,
    statusLists,
    reads,
    deps.logger,
  );
  const audit = new AuditService(db, clock, deps.keys.platformSeed, config.logOrigin, {
    logger: deps.logger,
    witnessing: {
      witnesses: config.witnesses,
      quorum: config.witnessQuorum,
      timeoutMs: config.witnessTimeoutMs,
    },
  });
  const offlineBundle = new OfflineBundleService({
    db,
    clock,
    baseUrl: config.publicBaseUrl,
    issuers,
    statusLists,
    logKey: { jwk: platformJwk(deps.keys.platformSeed), seed: deps.keys.platformSeed },
    // The latest checkpoint exactly as GET /log/checkpoint serves it (a C2SP signed note).
    latestCheckpoint: () => audit.checkpointNote(),
  });
  // A mark's serial encrypts its batch number and position under a key derived from the KEK.
  const markSerials = new MarkSerialCipher(deriveMarkSerialKey(deps.keys.kek));
  const services: Services = {
    vault,
    issuers,
    offlineBundle,
    apiKeys: new ApiKeysService(db, clock),
    certificates,
    certificateImports: new CertificateImportsService({
      db,
      clock,
      certificates,
      baseUrl: config.publicBaseUrl,
      maxBytes: config.importMaxBytes,
      logger: deps.logger,
    }),
    statusLists,
    verification: new VerificationService(
      db,
      clock,
      config.publicBaseUrl,
      alertSink,
      metrics.onVerdict,
    ),
    markVerification: new MarkVerificationService({
      db,
      clock,
      alerts: alertSink,
      clone: config.clone,
      serials: markSerials,
      logger: deps.logger,
      observer: metrics.markVerification,
    }),
    customs: new CustomsService(db, clock, alertSink, metrics.onVerdict),
    alerts,
    reports: new ReportsService(db, clock, markSerials),
    audit,
    inspections: new InspectionsService(db, clock),
    metrics,
    subscriptions: new SubscriptionsService(db, clock, deps.keys.kek, config.production),
    pageSessions: new PageSessions(db, clock, deriveSessionSecret(deps.keys.kek)),
    marks: new MarksService({
      db,
      vault,
      clock,
      baseUrl: config.publicBaseUrl,
      statusLists,
      serials: markSerials,
      logger: deps.logger,
    }),
  };
  // Resolving a SUSPECTED_CLONE alert clears the mark's clone flag.
  alerts.setCloneClearer(services.marks);
  const replica = reads.replicaDatabase;
  metrics.watch({
    scans: () => services.markVerification.scanPipelineStats(),
    alerts: () => alerts.alertWriteStats(),
    auditLag: () => audit.sequencingLag(),
    witnessLag: () => audit.witnessLag(),
    databases: [
      { name: 'primary', db },
      ...(replica ? [{ name: 'replica' as const, db: replica }] : []),
    ],
  });
  return services;
}

const MAX_BODY_BYTES = 1024 * 1024;
/**
 * POSTs that change nothing a public read shows: checks (they count scans), reports, and the
 * supervisor console's sign-in and sign-out.
 */
const READ_ONLY_CHANGES = /^\/(v1\/(verify\/|reports$)|supervisor(\/|$))/;

function socketAddress(c: Context): string | undefined {
  try {
    return getConnInfo(c).remote.address;
  } catch {
    return undefined;
  }
}

/**
 * The HTTP application: middleware, every feature's routes, one error handler. It performs no I/O
 * of its own beyond what requests ask for.
 */
export function createApp(deps: AppDeps, services: Services = createServices(deps)) {
  const logger = deps.logger ?? pino({ level: 'silent' });
  const app = new OpenAPIHono<AppEnv>({ router: new StaticPathRouter() });

  // Read from the routing table on first use, once every router below is mounted.
  const methodsFor = allowedMethods(app);
  // A change this instance answered: the reads right after it, by whoever made it or was told of
  // it, come from the primary (with a replica: ReadRouter.wrote). Checks and reports change
  // nothing public reads show.
  const reads = deps.reads;
  const onChange = reads?.replicaDatabase
    ? (c: Context<AppEnv>) => {
        if (!READ_ONLY_CHANGES.test(c.req.path)) reads.wrote();
      }
    : undefined;
  app.use('*', requestFrame({ logger, metrics: services.metrics, methodsFor, onChange }));
  // An import's body is streamed to its staging table under its own limit (IMPORT_MAX_MIB).
  app.use(
    '*',
    bodyLimit({
      maxBytes: MAX_BODY_BYTES,
      exempt: (c) => c.req.method === 'POST' && c.req.path === IMPORTS_PATH,
    }),
  );
  app.use('*', refuseContentCoding());
  // Anonymous requests, and requests with a key that is not valid, are limited per client
  // address (an IPv6 client per /64); authenticated callers are accountable by their key.
  const limiter = new RateLimiter({ limit: deps.config.rateLimitPerMinute });
  const clientAddress = (c: Context) =>
    rateLimitKey(
      clientAddressOf(socketAddress(c), c.req.header('x-forwarded-for'), deps.config.trustProxy),
    );
  // Ahead of API-key authentication: a scraper sends METRICS_TOKEN, not an API key.
  app.route(
    '/',
    metricsRoutes(services.metrics, {
      token: deps.config.metricsToken,
      socketAddress,
      limiter,
      clientAddress,
    }),
  );
  // Liveness reads nothing and is never limited, so it reads no key either (a junk key there
  // would be a database look-up that no limit counts).
  app.use(
    '*',
    authenticate({ db: deps.db, limiter, clientAddress, exempt: (c) => c.req.path === '/healthz' }),
  );
  // Liveness is never limited: a probe from an address it shares (a node, a NAT) must not fail
  // because a neighbour is busy, and it reads nothing. Readiness reads the database: limited.
  app.use('*', rateLimit({ limiter, clientAddress, exempt: (c) => c.req.path === '/healthz' }));
  // `GET /v1/certificates/imports` is a wrong method on the imports, not a certificate's id.
  app.use('*', literalSegmentsFirst(app, methodsFor));

  app.route(
    '/',
    healthRoutes(deps.ping ?? (() => Promise.resolve()), {
      witnessing: () => services.audit.witnessLag(),
      reads: () => {
        const status = deps.reads?.status();
        if (!status || status.replica === 'none') return undefined;
        const { replica, stalenessMs, maxStalenessMs } = status;
        return { replica, stalenessMs, maxStalenessMs };
      },
    }),
  );
  app.route(
    '/',
    jwksRoutes(services.issuers, platformJwk(deps.keys.platformSeed), deps.config.publicBaseUrl),
  );
  app.route('/', issuersRoutes(services.issuers));
  app.route('/', apiKeysRoutes(services.apiKeys));
  // Before the certificates' routes: `/v1/certificates/imports/{id}` is not a certificate's id.
  app.route('/', certificateImportsRoutes(services.certificateImports));
  app.route('/', certificatesRoutes(services.certificates));
  app.route('/', credentialsRoutes(deps.config.publicBaseUrl));
  app.route('/', statusListsRoutes(services.statusLists));
  app.route('/', offlineBundleRoutes(services.offlineBundle));
  app.route(
    '/',
    verificationRoutes({ certificates: services.verification, marks: services.markVerification }),
  );
  app.route('/', customsRoutes(services.customs));
  app.route('/', alertsRoutes(services.alerts));
  app.route('/', reportsRoutes(services.reports));
  app.route('/', auditRoutes(services.audit));
  app.route('/', logRoutes(services.audit));
  app.route('/', inspectionsRoutes(services.inspections));
  app.route('/', marksRoutes(services.marks));
  app.route('/', subscriptionsRoutes(services.subscriptions));
  app.route(
    '/',
    webRoutes({
      markVerification: services.markVerification,
      verification: services.verification,
      certificates: services.certificates,
      offlineBundle: () => services.offlineBundle.bundle(),
      clock: deps.clock,
      onVerdict: services.metrics.onVerdict,
      repeatViews: {
        secret: deriveRepeatViewsSecret(deps.keys.kek),
        windowMs: deps.config.scanRepeatWindowMs,
        secureCookie: deps.config.publicBaseUrl.startsWith('https:'),
      },
    }),
  );
  app.route(
    '/',
    supervisorPage({
      db: deps.db,
      console: new SupervisorConsole({
        alerts: services.alerts,
        audit: services.audit,
        marks: services.marks,
        issuers: services.issuers,
      }),
      sessions: services.pageSessions,
      sessionSecret: deriveSessionSecret(deps.keys.kek),
      publicBaseUrl: deps.config.publicBaseUrl,
    }),
  );

  // Server-rendered pages that are not zod routes, described for completeness. Their own refusals
  // are pages; what the middleware refuses first (the rate limit, the database) is a problem like
  // anywhere else. An unknown bearer key is no key: the page answers as to anyone.
  const html = { 'text/html': { schema: { type: 'string' as const } } };
  /** A form the console's pages post: URL-encoded (what the page's form sends) or multipart. */
  const pageForm = (fields: Record<string, string>, required: string[]) => {
    const schema = {
      type: 'object' as const,
      properties: Object.fromEntries(
        Object.entries(fields).map(([name, description]) => [
          name,
          { type: 'string' as const, description },
        ]),
      ),
      required,
    };
    return {
      required: true,
      content: {
        'application/x-www-form-urlencoded': { schema },
        'multipart/form-data': { schema },
      },
    };
  };
  const formToken = 'The token the page’s form carries (a form from elsewhere is refused)';
  const formLang = '`en` for the English page; Chinese otherwise';
  app.openAPIRegistry.registerComponent('securitySchemes', 'supervisorSession', {
    type: 'apiKey',
    in: 'cookie',
    name: SUPERVISOR_COOKIE,
    description: 'The session cookie `POST /supervisor/session` sets',
  });
  app.openAPIRegistry.registerPath({
    operationId: 'getSupervisorPage',
    method: 'get',
    path: '/supervisor',
    tags: ['Supervision'],
    summary:
      'The supervisor console: alerts on a map of China’s provinces, the daily trend of alerts and mark checks, suspected clones’ checks, alerts by severity with filters (supervisor)',
    description:
      'Chinese by default, English with `?lang=en` or `Accept-Language: en`. The charts are drawn in the browser by `GET /supervisor/assets/console.js` from the figures the page carries; nothing is loaded from another host.',
    security: [{ bearerAuth: [] }, { supervisorSession: [] }],
    responses: {
      200: { description: 'The page', content: html },
      401: {
        description: 'The sign-in page (no key, or one unknown or revoked)',
        content: html,
      },
      403: { description: 'Not a supervisor’s key: the sign-in page', content: html },
      ...pageRateLimited,
      ...problems(503),
    },
  });
  app.openAPIRegistry.registerPath({
    operationId: 'getSupervisorConsoleScript',
    method: 'get',
    path: '/supervisor/assets/console.js',
    tags: ['Supervision'],
    summary:
      'The supervisor console’s chart script: Apache ECharts and the provinces’ geometry, bundled (public, no data)',
    security: publicAccess,
    responses: {
      200: {
        description: 'The script',
        content: { 'text/javascript': { schema: { type: 'string' as const } } },
      },
      ...problems(429, 503),
    },
  });
  app.openAPIRegistry.registerPath({
    operationId: 'signInSupervisor',
    method: 'post',
    path: '/supervisor/session',
    tags: ['Supervision'],
    summary:
      'Sign in to the supervisor’s page with a supervisor key (form fields `key` and the page’s `form_token`)',
    security: publicAccess,
    request: {
      body: pageForm({ key: 'A supervisor’s API key', form_token: formToken, lang: formLang }, [
        'key',
        'form_token',
      ]),
    },
    responses: {
      303: { description: 'Signed in: a session cookie, redirect to /supervisor' },
      401: { description: 'Unknown or revoked key: the sign-in page', content: html },
      403: {
        description: 'Another role’s key, or a form from another origin or without its token',
        content: html,
      },
      ...problems(413, 503),
      ...pageRateLimited,
    },
  });
  app.openAPIRegistry.registerPath({
    operationId: 'signOutSupervisor',
    method: 'post',
    path: '/supervisor/sign-out',
    tags: ['Supervision'],
    summary:
      'Sign out of the supervisor’s page: the session ends on the server (form field `form_token`)',
    security: publicAccess,
    request: { body: pageForm({ form_token: formToken, lang: formLang }, ['form_token']) },
    responses: {
      200: { description: 'Signed out: the sign-in page', content: html },
      403: { description: 'A form from another origin or without its token', content: html },
      ...problems(413, 503),
      ...pageRateLimited,
    },
  });

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
    description: 'An API key: `Authorization: Bearer cm_…`',
  });
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    servers: [{ url: deps.config.publicBaseUrl }],
    info: {
      title: 'certmark',
      version: '1.0.0',
      description:
        'Certificate-authenticity service: signed credentials and QR marks for quality certificates, verification for anyone, CCC exemption checks for customs, supervision.',
    },
  });
  app.route('/', apiReferenceRoutes());

  app.notFound((c) => {
    const allow = methodsFor(c.req.path);
    if (allow.length > 0) {
      throw new AppError('method_not_allowed', `${c.req.method} is not allowed here`, { allow });
    }
    throw new AppError('not_found', 'no such endpoint');
  });
  app.onError((error, c) => {
    // A person opening a page over the public limit reads why in the page's language.
    if (error instanceof AppError && error.code === 'rate_limited' && isPageRequest(c))
      return rateLimitedPageResponse(c, error);
    // A link scanned from a label that the page cannot even read is answered with a page too.
    if (error instanceof AppError)
      return unreadableLinkResponse(c, error).then((page) => page ?? problemResponse(c, error));
    if (error instanceof HTTPException) {
      if (error.status === 400)
        return problemResponse(c, new AppError('malformed_json', 'the body is not valid JSON'));
      if (error.status === 413)
        return problemResponse(
          c,
          new AppError('payload_too_large', 'request bodies are limited to 1 MiB'),
        );
      if (error.status === 401)
        return problemResponse(c, new AppError('unauthorized', 'this endpoint needs an API key'));
      if (error.status === 415)
        return problemResponse(
          c,
          new AppError(
            'unsupported_media_type',
            `this operation does not take a body of type ${c.req.header('content-type') ?? '(none)'}`,
          ),
        );
      return problemResponse(c, new AppError('bad_request', error.message || 'bad request'));
    }
    if (isDatabaseUnavailable(error)) {
      return problemResponse(
        c,
        new AppError('database_unavailable', 'the database is not reachable; retry shortly', {
          retryAfterSeconds: 5,
        }),
      );
    }
    // Never the error's message as is: a failed query's carries its SQL and parameters.
    logger.error({ req: c.get('requestId'), err: loggableError(error) }, 'unhandled error');
    return problemResponse(c, new AppError('internal_error', 'an internal error occurred'));
  });
  return app;
}

export type App = ReturnType<typeof createApp>;
