import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { certificateBody, USCC } from '../fixtures';
import { startServiceProcess, type ServiceProcess } from '../service-process';

/** What one HTTP request to a service process came to; `status` 0 means no answer at all. */
export interface Outcome {
  kind: string;
  startedAt: number;
  endedAt: number;
  status: number;
  retryAfter: string | null;
  contentType: string | null;
  body: any;
  /** The service process that answered (its base URL). */
  instance?: string;
  /** What the request was about, for the checks afterwards (a mark's serial, a declaration). */
  subject?: string;
}

export interface HttpCaller {
  readonly baseUrl: string;
  call(
    method: string,
    url: string,
    options?: { key?: string; body?: unknown; accept?: string; timeoutMs?: number },
  ): Promise<Outcome>;
}

/** fetch() against a service process, never throwing: a lost request is status 0. */
export function httpCaller(baseUrl: string): HttpCaller {
  return {
    baseUrl,
    async call(method, url, options = {}) {
      const startedAt = performance.now();
      const headers: Record<string, string> = {};
      if (options.key) headers.authorization = `Bearer ${options.key}`;
      if (options.body !== undefined) headers['content-type'] = 'application/json';
      if (options.accept) headers.accept = options.accept;
      try {
        const res = await fetch(baseUrl + url, {
          method,
          headers,
          body: options.body === undefined ? undefined : JSON.stringify(options.body),
          signal: AbortSignal.timeout(options.timeoutMs ?? 15_000),
        });
        const text = await res.text();
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // a page or an empty body
        }
        return {
          kind: '',
          startedAt,
          endedAt: performance.now(),
          status: res.status,
          retryAfter: res.headers.get('retry-after'),
          contentType: res.headers.get('content-type'),
          body,
        };
      } catch (error) {
        return {
          kind: '',
          startedAt,
          endedAt: performance.now(),
          status: 0,
          retryAfter: null,
          contentType: null,
          body: String(error),
        };
      }
    },
  };
}

/** A throwaway KEYS_DIR and admin key for service processes sharing one database. */
export function serviceSecrets() {
  const keysDir = fs.mkdtempSync(path.join(os.tmpdir(), 'certmark-faults-'));
  return {
    keysDir,
    adminKey: `cm_${randomBytes(32).toString('base64url')}`,
    remove: () => fs.rmSync(keysDir, { recursive: true, force: true }),
  };
}

export async function startService(
  databaseUrl: string,
  secrets: { keysDir: string; adminKey: string },
): Promise<ServiceProcess> {
  return startServiceProcess({ databaseUrl, ...secrets });
}

async function expectStatus(outcome: Promise<Outcome>, status: number, what: string) {
  const result = await outcome;
  if (result.status !== status) {
    throw new Error(`${what}: ${result.status} ${JSON.stringify(result.body)}`);
  }
  return result.body;
}

/** Valid third USCC (both checks hold), for an exemption's factory. */
const THIRD_USCC = '91350100M000100Y43';

export interface World {
  issuerKey: string;
  customsKey: string;
  supervisorKey: string;
  certificate: { id: string; number: string; credential: string };
  exemption: { id: string; number: string; quantity: number };
  marks: { serial: string; code: string }[];
}

/** Issuers, keys, a certificate with marks and a CCC exemption, made through the API. */
export async function buildWorld(http: HttpCaller, adminKey: string): Promise<World> {
  const authority = await expectStatus(
    http.call('POST', '/v1/issuers', {
      key: adminKey,
      body: {
        name: 'Shenzhen Administration for Market Regulation',
        kind: 'exemption_authority',
        schemes: ['CCC_EXEMPTION', 'CCC'],
      },
    }),
    201,
    'issuer',
  );
  const issuerKey = (
    await expectStatus(
      http.call('POST', '/v1/api-keys', {
        key: adminKey,
        body: { role: 'issuer', issuerId: authority.id },
      }),
      201,
      'issuer key',
    )
  ).key as string;
  const roleKey = async (role: string) =>
    (
      await expectStatus(
        http.call('POST', '/v1/api-keys', { key: adminKey, body: { role } }),
        201,
        `${role} key`,
      )
    ).key as string;
  const customsKey = await roleKey('customs');
  const supervisorKey = await roleKey('supervisor');
  const certificate = await expectStatus(
    http.call('POST', '/v1/certificates', { key: issuerKey, body: certificateBody() }),
    201,
    'certificate',
  );
  const quantity = 1_000_000;
  const exemption = await expectStatus(
    http.call('POST', '/v1/certificates', {
      key: issuerKey,
      body: certificateBody({
        scheme: 'CCC_EXEMPTION',
        quantity,
        purpose: 'rd_or_test_samples',
        manufacturer: { name: 'Example Electronics GmbH', uscc: USCC.other },
        factories: [{ name: 'Example Plant Suzhou', uscc: THIRD_USCC }],
      }),
    }),
    201,
    'exemption',
  );
  const batch = await expectStatus(
    http.call('POST', `/v1/certificates/${certificate.id}/marks`, {
      key: issuerKey,
      body: { count: 40 },
    }),
    201,
    'marks',
  );
  const exported = await http.call('GET', `/v1/mark-batches/${batch.batchId}/marks`, {
    key: issuerKey,
  });
  const marks = String(exported.body)
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { serial: string; code: string });
  return {
    issuerKey,
    customsKey,
    supervisorKey,
    certificate: {
      id: certificate.id,
      number: certificate.number,
      credential: certificate.credential,
    },
    exemption: { id: exemption.id, number: exemption.number, quantity },
    marks,
  };
}

let declarationCounter = 0;
/** A fresh 18-digit customs declaration number, distinct across the files of one run. */
export const nextDeclarationNo = () =>
  `5316${String(process.pid % 10_000).padStart(4, '0')}${String(++declarationCounter).padStart(10, '0')}`;

/** One kind of request the load sends in a loop. */
export interface LoadKind {
  kind: string;
  send(http: HttpCaller): Promise<Outcome>;
}

/** Customs deducts one unit of the world's exemption for a declaration. */
export function consume(http: HttpCaller, world: World, declarationNo: string): Promise<Outcome> {
  return http.call('POST', '/v1/customs/exemptions/consume', {
    key: world.customsKey,
    body: {
      number: world.exemption.number,
      declarationNo,
      quantity: 1,
      importerUscc: USCC.holder,
      model: 'X1-100',
    },
  });
}

/** The everyday traffic of the service: consumers, customs, an issuer, the operator's probes. */
export function everydayTraffic(world: World): LoadKind[] {
  const anyMark = () => world.marks[Math.floor(Math.random() * world.marks.length)]!;
  const about = async (subject: string, outcome: Promise<Outcome>) => ({
    ...(await outcome),
    subject,
  });
  return [
    {
      kind: 'verify-mark',
      send: (http) => {
        const mark = anyMark();
        return about(
          mark.serial,
          http.call('POST', '/v1/verify/mark', { body: { code: mark.code } }),
        );
      },
    },
    {
      kind: 'mark-page',
      send: (http) => {
        const mark = anyMark();
        return about(
          mark.serial,
          http.call('GET', `/m/${mark.code}`, { accept: 'application/json' }),
        );
      },
    },
    {
      kind: 'verify-certificate',
      send: (http) =>
        http.call('POST', '/v1/verify/certificate', {
          body: { number: world.certificate.number },
        }),
    },
    {
      // The whole signed credential travels in the query's parameters: it must never be logged.
      kind: 'verify-credential',
      send: (http) =>
        http.call('POST', '/v1/verify/certificate', {
          body: { credential: world.certificate.credential },
        }),
    },
    {
      kind: 'registry',
      send: (http) =>
        http.call('GET', `/v1/registry/certificates?number=${world.certificate.number}`),
    },
    {
      kind: 'consume',
      send: (http) => {
        const declarationNo = nextDeclarationNo();
        return about(declarationNo, consume(http, world, declarationNo));
      },
    },
    {
      kind: 'issue-certificate',
      send: (http) =>
        http.call('POST', '/v1/certificates', { key: world.issuerKey, body: certificateBody() }),
    },
    {
      kind: 'issue-marks',
      send: (http) =>
        http.call('POST', `/v1/certificates/${world.certificate.id}/marks`, {
          key: world.issuerKey,
          body: { count: 200 },
        }),
    },
    { kind: 'readyz', send: (http) => http.call('GET', '/readyz') },
    { kind: 'healthz', send: (http) => http.call('GET', '/healthz') },
  ];
}

/**
 * Runs every kind in its own loop on each instance until stopped; every outcome is kept in order
 * of its end.
 */
export function startLoad(instances: HttpCaller[], kinds: LoadKind[], pauseMs = 25) {
  const outcomes: Outcome[] = [];
  let stopped = false;
  const loops = instances.flatMap((http) =>
    kinds.map(async ({ kind, send }) => {
      while (!stopped) {
        const outcome = await send(http);
        outcomes.push({ ...outcome, kind, instance: http.baseUrl });
        await new Promise((resolve) => setTimeout(resolve, pauseMs));
      }
    }),
  );
  return {
    outcomes,
    async stop() {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

/** The statuses each request is allowed to end with when nothing is wrong. */
export const SUCCESS: Record<string, number[]> = {
  'issue-certificate': [201],
  'issue-marks': [201, 202],
};
export const succeeded = (o: Outcome) => (SUCCESS[o.kind] ?? [200]).includes(o.status);

export interface FaultFigures {
  fault: string;
  /** From the fault to the first 503 answer. */
  msTo503: number | null;
  /**
   * The longest any request waited under the fault (from the fault or its own start, whichever
   * was later, to its answer), and which it was.
   */
  slowestAnswerMs: number;
  slowest: string;
  /** From the heal to the end of the last failed request: afterwards everything succeeds. */
  msToRecovery: number;
  /** That last failed request: its kind, status, and when it started (ms after the heal). */
  lastFailure: string;
  answered: number;
  lost: number;
  byStatus: Record<string, number>;
}

/** Figures of one fault window from the outcomes of a load run. */
export function figuresOf(
  fault: string,
  outcomes: Outcome[],
  faultAt: number,
  healAt: number,
): FaultFigures {
  const during = outcomes.filter((o) => o.endedAt >= faultAt && o.startedAt <= healAt);
  const first503 = during
    .filter((o) => o.status === 503)
    .reduce((min, o) => Math.min(min, o.endedAt), Number.POSITIVE_INFINITY);
  const failedAfterHeal = outcomes.filter((o) => o.endedAt >= healAt && !succeeded(o));
  const lastFailed = failedAfterHeal.reduce<Outcome | undefined>(
    (last, o) => (!last || o.endedAt > last.endedAt ? o : last),
    undefined,
  );
  const lastFailure = lastFailed?.endedAt ?? healAt;
  const byStatus: Record<string, number> = {};
  for (const o of during) byStatus[o.status] = (byStatus[o.status] ?? 0) + 1;
  const waited = (o: Outcome) => o.endedAt - Math.max(o.startedAt, faultAt);
  const slowest = during.reduce<Outcome | undefined>(
    (worst, o) => (!worst || waited(o) > waited(worst) ? o : worst),
    undefined,
  );
  return {
    fault,
    msTo503: Number.isFinite(first503) ? Math.round(first503 - faultAt) : null,
    slowestAnswerMs: slowest ? Math.round(waited(slowest)) : 0,
    slowest: slowest
      ? `${slowest.kind} ${slowest.status}, from ${Math.round(slowest.startedAt - faultAt)} ms`
      : '',
    msToRecovery: Math.round(lastFailure - healAt),
    lastFailure: lastFailed
      ? `${lastFailed.kind} ${lastFailed.status} ${lastFailed.body?.code ?? ''}, from ${Math.round(lastFailed.startedAt - healAt)} ms`
      : '',
    answered: during.filter((o) => o.status !== 0).length,
    lost: during.filter((o) => o.status === 0).length,
    byStatus,
  };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
