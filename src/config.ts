import path from 'node:path';
import { z } from 'zod';
import { parseTrustProxy, type TrustProxy } from './http/client-address';
import { parseWitnessList, type WitnessEndpoint } from './audit/witness-config';
import { isValidKeyName } from './crypto/signed-note';

/** The default limit of a bulk import's body (IMPORT_MAX_MIB): about 400,000 typical certificates. */
export const DEFAULT_IMPORT_MAX_MIB = 256;

/** What {@link isValidKeyName} asks of a note key name, for a configuration error. */
const KEY_NAME_RULE =
  'a signed-note key name: not empty, no spaces, no control characters and no "+"';

/**
 * The service's configuration, parsed once from the environment (SPEC "Configuration").
 * This module is the only reader of `process.env`; everything else receives a frozen `Config`.
 */
function isServiceBaseUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (
      /^https?:$/.test(url.protocol) &&
      url.host !== '' &&
      url.username === '' &&
      url.password === '' &&
      // A bare `?` or `#` leaves search and hash empty, and every path would still follow it.
      !/[?#]/.test(value)
    );
  } catch {
    return false;
  }
}

const POSTGRES_URL_RULE = 'must be a postgres:// or postgresql:// URL';
const isPostgresUrl = (value: string) => /^postgres(ql)?:\/\//i.test(value);

/**
 * A number setting, written in decimal ("30", "2.5"), checked by `rule`; empty is unset (its
 * default), as for every other setting. Hex, exponents and Infinity are refused: `0x1e` was taken as
 * 30 days, and an empty RATE_LIMIT_PER_MINUTE as 0 (no limit at all).
 */
const decimal = <T extends z.ZodType<number, number>>(rule: T) =>
  z.preprocess(
    (value) => (typeof value === 'string' ? value.trim() || undefined : value),
    z
      .string()
      .regex(/^\d+(\.\d+)?$/, 'a decimal number')
      .transform(Number)
      .pipe(rule)
      .optional(),
  );

const envSchema = z.object({
  DATABASE_URL: z.string().url().refine(isPostgresUrl, POSTGRES_URL_RULE).optional(),
  DATA_DIR: z.string().min(1).default('./data'),
  PORT: decimal(z.number().int().min(0).max(65535)).default(3000),
  // The base of every URL in a QR code, a credential and the log's origin: http(s), a host, and
  // nothing a path appended to it would land in (a query or a fragment).
  PUBLIC_BASE_URL: z
    .string()
    .url()
    .refine(isServiceBaseUrl, 'must be an http(s) URL with a host and no user, query or fragment')
    .optional(),
  KEYS_DIR: z.string().min(1).default('./keys'),
  // Operator-chosen. One token: it is sent as `Bearer <key>`, so a value with a space (a padded
  // line in an env file) could never be presented, and revoking the previous key would lock the
  // operator out. Shorter than ADMIN_KEY_MIN_LENGTH: refused in production, warned about elsewhere.
  ADMIN_API_KEY: z
    .string()
    .regex(
      /^\S+$/,
      'must be one token without spaces or line breaks (it is sent as "Bearer <key>")',
    )
    .optional(),
  RATE_LIMIT_PER_MINUTE: decimal(z.number().int().min(0)).default(120),
  TRUST_PROXY: z.string().optional(),
  NODE_ENV: z.string().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'silent']).default('info'),
  CLONE_MAX_SCANS: decimal(z.number().int().min(1)).default(20),
  CLONE_MAX_PROVINCES: decimal(z.number().int().min(2)).default(3),
  CLONE_PROVINCE_WINDOW_HOURS: decimal(z.number().positive()).default(24),
  CLONE_MAX_DISTANCE_KM: decimal(z.number().positive()).default(500),
  CLONE_DISTANCE_WINDOW_MINUTES: decimal(z.number().positive()).default(60),
  SCAN_REPEAT_WINDOW_HOURS: decimal(z.number().min(0)).default(24),
  SCAN_RETENTION_DAYS: decimal(z.number().int().positive()),
  DATABASE_READ_URL: z.string().url().refine(isPostgresUrl, POSTGRES_URL_RULE).optional(),
  DATABASE_READ_MAX_STALENESS_SECONDS: decimal(z.number().positive()).default(5),
  // The audit log's checkpoint origin (C2SP tlog-checkpoint), also its note key name: held to the
  // rule every checkpoint is signed under, so a value the notes would refuse stops the start.
  LOG_ORIGIN: z.string().refine(isValidKeyName, KEY_NAME_RULE).optional(),
  // Witnesses of the audit log (C2SP tlog-witness): `<verifier key>@<URL>`, comma-separated.
  WITNESSES: z.string().optional(),
  WITNESS_QUORUM: z
    .string()
    .regex(/^(0|[1-9][0-9]*)$/, 'a whole number of cosignatures')
    .optional(),
  WITNESS_TIMEOUT_SECONDS: decimal(z.number().positive().max(300)).default(10),
  // The largest import body (POST /v1/certificates/imports), streamed to a staging table.
  IMPORT_MAX_MIB: decimal(z.number().int().min(1).max(4096)).default(DEFAULT_IMPORT_MAX_MIB),
  WEBHOOK_TIMEOUT_SECONDS: decimal(z.number().positive().max(60)).default(10),
  WEBHOOK_RETRY_DELAY_SECONDS: decimal(z.number().int().min(1).max(3600)).default(6),
  // Room for the answers in flight (the bound less 3 s) and the rest of the stop (about 2 s).
  SHUTDOWN_TIMEOUT_SECONDS: decimal(z.number().min(5).max(600)).default(10),
  // The bearer token GET /metrics asks for; unset, only loopback clients are answered.
  METRICS_TOKEN: z
    .string()
    .min(16, 'at least 16 characters: use a random token')
    .regex(/^\S+$/, 'no whitespace')
    .optional(),
});

export interface CloneThresholds {
  /** More verifications than this make a mark a suspected clone. */
  readonly maxScans: number;
  /** This many distinct provinces within the window make a suspected clone. */
  readonly maxProvinces: number;
  readonly provinceWindowMs: number;
  /** Two scans farther apart than this within the window make a suspected clone. */
  readonly maxDistanceKm: number;
  readonly distanceWindowMs: number;
}

export interface Config {
  readonly databaseUrl: string | undefined;
  readonly dataDir: string;
  readonly port: number;
  readonly publicBaseUrl: string;
  readonly keysDir: string;
  readonly adminApiKey: string | undefined;
  readonly rateLimitPerMinute: number;
  /** Which forwarding-header entries name the client (see src/http/client-address.ts). */
  readonly trustProxy: TrustProxy;
  readonly production: boolean;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'silent';
  readonly clone: CloneThresholds;
  /**
   * Views of one mark's page from one browser within this window count once toward its scan count
   * and the clone thresholds (all are still logged); 0 counts every view.
   */
  readonly scanRepeatWindowMs: number;
  /** The largest import body, in bytes (IMPORT_MAX_MIB). */
  readonly importMaxBytes: number;
  /**
   * How long the scan log is kept: a month's partition is dropped once its last day is this many
   * days old. Undefined keeps every scan.
   */
  readonly scanRetentionDays: number | undefined;
  /** A PostgreSQL streaming replica for public reads (see src/db/read-replica.ts). */
  readonly databaseReadUrl: string | undefined;
  /** Public reads go to the replica only while it is provably at most this far behind. */
  readonly readMaxStalenessMs: number;
  /**
   * The audit log's checkpoint origin line and note key name: LOG_ORIGIN, else the host and path
   * of PUBLIC_BASE_URL followed by `/log` (tlog-tiles: the log's URL prefix without its scheme), so
   * two deployments never sign the same origin.
   */
  readonly logOrigin: string;
  /** The bearer token of GET /metrics; undefined answers loopback clients only. */
  readonly metricsToken: string | undefined;
  /**
   * The witnesses the sequencer's checkpoints are sent to (C2SP tlog-witness) and how many of their
   * cosignatures make a checkpoint witnessed; GET /log/checkpoint serves the latest witnessed one
   * when the quorum is above 0 (see src/audit/witnessing.ts).
   */
  readonly witnesses: readonly WitnessEndpoint[];
  readonly witnessQuorum: number;
  /** One add-checkpoint request's limit; a witness that has not answered by then is retried later. */
  readonly witnessTimeoutMs: number;
  readonly webhooks: {
    /** One delivery attempt's limit, connection to answer. */
    readonly timeoutMs: number;
    /** The base of the retries' exponential backoff (src/subscriptions/webhook-dispatcher.ts). */
    readonly retryDelaySeconds: number;
  };
  /**
   * From SIGTERM or SIGINT to exit (src/main.ts): answers in flight get all of it but 3 s, and past
   * it the process exits anyway, with code 1.
   */
  readonly shutdownBoundMs: number;
}

/**
 * The shortest ADMIN_API_KEY taken in production: 22 characters of base64 hold 128 bits, what SPEC
 * asks of a key (a generated one holds 256).
 */
export const ADMIN_KEY_MIN_LENGTH = 22;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * The configuration from `env`. With PORT=0 (any free port) and no PUBLIC_BASE_URL, the default
 * base URL needs the port the listener was given: load again with `bound` once it is bound.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, bound?: { port: number }): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`invalid configuration: ${fields}`);
  }
  const e = parsed.data;
  let trustProxy: TrustProxy;
  try {
    trustProxy = parseTrustProxy(e.TRUST_PROXY);
  } catch (error) {
    throw new ConfigError(`invalid configuration: TRUST_PROXY: ${(error as Error).message}`);
  }
  let witnesses: WitnessEndpoint[];
  try {
    witnesses = parseWitnessList(e.WITNESSES ?? '');
  } catch (error) {
    throw new ConfigError(`invalid configuration: WITNESSES: ${(error as Error).message}`);
  }
  const witnessQuorum = e.WITNESS_QUORUM === undefined ? 0 : Number(e.WITNESS_QUORUM);
  if (witnessQuorum > witnesses.length) {
    throw new ConfigError(
      `invalid configuration: WITNESS_QUORUM: ${witnessQuorum} cosignatures cannot come from ` +
        `${witnesses.length} witness${witnesses.length === 1 ? '' : 'es'} (WITNESSES)`,
    );
  }
  if (
    e.NODE_ENV === 'production' &&
    e.ADMIN_API_KEY &&
    e.ADMIN_API_KEY.length < ADMIN_KEY_MIN_LENGTH
  ) {
    throw new ConfigError(
      `invalid configuration: ADMIN_API_KEY: shorter than ${ADMIN_KEY_MIN_LENGTH} characters; ` +
        'production needs a random key of at least 128 bits (SPEC "API keys")',
    );
  }
  // PORT=0 takes any free port: the default base names the one bound (port 0 named nothing).
  const port = e.PORT === 0 ? (bound?.port ?? 0) : e.PORT;
  const publicBaseUrl = (e.PUBLIC_BASE_URL ?? `http://localhost:${port}`).replace(/\/+$/, '');
  const logOrigin = e.LOG_ORIGIN ?? defaultLogOrigin(publicBaseUrl);
  // The origin derived from PUBLIC_BASE_URL (a `+` in its path) is held to the same rule.
  if (!isValidKeyName(logOrigin))
    throw new ConfigError(
      `invalid configuration: LOG_ORIGIN: the origin PUBLIC_BASE_URL gives is not ${KEY_NAME_RULE}; set LOG_ORIGIN`,
    );
  return Object.freeze({
    databaseUrl: e.DATABASE_URL,
    dataDir: path.resolve(e.DATA_DIR),
    port,
    publicBaseUrl,
    keysDir: path.resolve(e.KEYS_DIR),
    adminApiKey: e.ADMIN_API_KEY,
    rateLimitPerMinute: e.RATE_LIMIT_PER_MINUTE,
    trustProxy,
    production: e.NODE_ENV === 'production',
    logLevel: e.LOG_LEVEL,
    clone: Object.freeze({
      maxScans: e.CLONE_MAX_SCANS,
      maxProvinces: e.CLONE_MAX_PROVINCES,
      provinceWindowMs: e.CLONE_PROVINCE_WINDOW_HOURS * 3_600_000,
      maxDistanceKm: e.CLONE_MAX_DISTANCE_KM,
      distanceWindowMs: e.CLONE_DISTANCE_WINDOW_MINUTES * 60_000,
    }),
    scanRepeatWindowMs: e.SCAN_REPEAT_WINDOW_HOURS * 3_600_000,
    importMaxBytes: e.IMPORT_MAX_MIB * 1024 * 1024,
    scanRetentionDays: e.SCAN_RETENTION_DAYS,
    databaseReadUrl: e.DATABASE_READ_URL,
    readMaxStalenessMs: e.DATABASE_READ_MAX_STALENESS_SECONDS * 1_000,
    logOrigin,
    metricsToken: e.METRICS_TOKEN,
    witnesses: Object.freeze(witnesses),
    witnessQuorum,
    witnessTimeoutMs: e.WITNESS_TIMEOUT_SECONDS * 1000,
    webhooks: Object.freeze({
      timeoutMs: e.WEBHOOK_TIMEOUT_SECONDS * 1000,
      retryDelaySeconds: e.WEBHOOK_RETRY_DELAY_SECONDS,
    }),
    shutdownBoundMs: e.SHUTDOWN_TIMEOUT_SECONDS * 1000,
  });
}

/** `https://certmark.example.org/base` → `certmark.example.org/base/log`. */
function defaultLogOrigin(publicBaseUrl: string): string {
  const url = new URL(publicBaseUrl);
  return `${url.host}${url.pathname.replace(/\/+$/, '')}/log`;
}
