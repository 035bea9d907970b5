/**
 * Bulk import of certificates: how long 100,000 take and how much memory the service needs.
 *
 *   npx tsx bench/certificate-import.ts [--rows 100000] [--format ndjson|csv]
 *                                       [--server-cpu 0] [--client-cpu 1] [--kill-at N]
 *
 * Creates a scratch database on the server of DATABASE_URL (default the local PostgreSQL), starts
 * the service (`src/main.ts`, pinned with taskset to --server-cpu) on it, and from this process
 * (pinned to --client-cpu) writes `--rows` distinct certificates to a temporary file, streams it to
 * `POST /v1/certificates/imports`, and polls the import until it is done. Prints rows per second,
 * the time to receive (202) and in all, and the service's peak RSS (VmHWM) with the load average.
 * With --kill-at N the service is killed (SIGKILL) once N rows are done and started again: the
 * import must go on by itself from its last chunk, and the database must then hold each
 * certificate, its two status list entries and its audit entry exactly once.
 * The database, the file and the process are removed at the end. Run by hand; never in the tests.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { builtService, freePort, pinSelf, start } from './lib/process';
import { jsonCaller, withServer } from './lib/service-api';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '100000' },
    format: { type: 'string', default: 'ndjson' },
    'server-cpu': { type: 'string', default: '0' },
    'client-cpu': { type: 'string', default: '1' },
    'kill-at': { type: 'string' },
  },
});
const ROWS = Number(args.rows);
const FORMAT = args.format === 'csv' ? 'csv' : 'ndjson';
const serverUrl = new URL(
  process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
);
const dbName = `certmark_bench_import_${randomBytes(4).toString('hex')}`;
const dbUrl = new URL(serverUrl);
dbUrl.pathname = `/${dbName}`;
const adminKey = `cm_${randomBytes(32).toString('base64url')}`;
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'certmark-bench-import-'));
const HOLDER_USCC = '914403001922038216';

const admin = <T>(fn: (c: pg.Client) => Promise<T>) => withServer(serverUrl, fn);

/** Writes `rows` certificates (all different, some historical) as NDJSON or CSV; its size. */
async function writeFile(file: string, rows: number): Promise<number> {
  const out = fs.createWriteStream(file);
  const write = (text: string) =>
    out.write(text) ? Promise.resolve() : new Promise<void>((r) => out.once('drain', () => r()));
  if (FORMAT === 'csv')
    await write(
      'number,scheme,holder.name,holder.uscc,holder.address,manufacturer.name,manufacturer.uscc,scope.product,scope.models,scope.hsCode,standards,validFrom,validUntil,signatory.name,signatory.title\n',
    );
  for (let i = 0; i < rows; i++) {
    const year = 2010 + (i % 15); // a third of them expired already: historical records
    const c = {
      number: `IMP${String(i).padStart(10, '0')}`,
      scheme: i % 3 === 0 ? 'ISO9001' : 'CCC',
      holder: {
        name: `Bench Holder ${i % 5000} Co., Ltd.`,
        uscc: HOLDER_USCC,
        address: `No. ${i % 900} Bench Road, Shenzhen`,
      },
      manufacturer: { name: `Bench Manufacturer ${i % 700}`, uscc: HOLDER_USCC },
      scope: [
        { product: 'Laptop computer', models: [`M${i}-100`, `M${i}-2*`], hsCode: '8471300000' },
      ],
      standards: ['GB 4943.1-2022', 'GB/T 9254.1-2021'],
      validFrom: `${year}-01-01`,
      validUntil: `${year + 5}-01-01`,
      signatory: { name: '张三', title: 'Certification decision maker' },
    };
    await write(
      FORMAT === 'csv'
        ? `${c.number},${c.scheme},"${c.holder.name}",${c.holder.uscc},"${c.holder.address}",${c.manufacturer.name},${c.manufacturer.uscc},${c.scope[0]!.product},${c.scope[0]!.models.join('|')},${c.scope[0]!.hsCode},${c.standards.join('|')},${c.validFrom},${c.validUntil},${c.signatory.name},${c.signatory.title}\n`
        : `${JSON.stringify(c)}\n`,
    );
  }
  await new Promise<void>((resolve) => out.end(resolve));
  return fs.statSync(file).size;
}

/** Peak resident set of a process (kB → MiB), from /proc. */
function peakRssMiB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

/** Certificates, their status list entries and their audit entries, counted in the database. */
async function exactlyOnce(): Promise<string> {
  const c = new pg.Client({ connectionString: dbUrl.toString() });
  await c.connect();
  try {
    const { rows } = await c.query(`SELECT
      (SELECT count(*) FROM certificates) AS certificates,
      (SELECT count(DISTINCT number) FROM certificates) AS numbers,
      (SELECT count(*) FROM status_list_entries) AS entries,
      (SELECT count(*) FROM audit_log WHERE action = 'certificate.issue') AS audited`);
    const r = rows[0] as Record<string, string>;
    return `${r.certificates} certificates (${r.numbers} numbers), ${r.entries} status list entries, ${r.audited} certificate.issue audit entries`;
  } finally {
    await c.end();
  }
}

async function main(): Promise<void> {
  await admin((c) => c.query(`CREATE DATABASE ${dbName}`));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const startService = () =>
    start(
      [builtService()],
      {
        DATABASE_URL: dbUrl.toString(),
        PORT: String(port),
        RATE_LIMIT_PER_MINUTE: '0',
        ADMIN_API_KEY: adminKey,
        KEYS_DIR: path.join(scratch, 'keys'),
        LOG_LEVEL: 'info',
        NODE_ENV: 'development',
      },
      (line) => line.includes('certmark listening'),
      { cpu: Number(args['server-cpu']) },
    );
  let service = await startService();
  pinSelf(Number(args['client-cpu']));
  try {
    const json = jsonCaller(base);
    const call = (route: string, key: string, body?: unknown) =>
      json(body === undefined ? 'GET' : 'POST', route, key, body);
    const issuer = await call('/v1/issuers', adminKey, {
      name: 'Bench Certification Body',
      kind: 'certification_body',
      schemes: ['CCC', 'ISO9001'],
    });
    const { key } = await call('/v1/api-keys', adminKey, { role: 'issuer', issuerId: issuer.id });

    const file = path.join(scratch, `certificates.${FORMAT}`);
    const bytes = await writeFile(file, ROWS);
    const rssBefore = peakRssMiB(service.pid!);
    const load = fs.readFileSync('/proc/loadavg', 'utf8').trim();
    console.log(
      `${ROWS} certificates, ${FORMAT}, ${(bytes / 1048576).toFixed(1)} MiB; service on core ${args['server-cpu']} (peak RSS ${rssBefore.toFixed(0)} MiB before); load average ${load}`,
    );

    const started = performance.now();
    const res = await fetch(`${base}/v1/certificates/imports`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${key}`,
        'content-type': FORMAT === 'csv' ? 'text/csv' : 'application/x-ndjson',
        'content-length': String(bytes),
      },
      body: Readable.toWeb(fs.createReadStream(file)) as ReadableStream<Uint8Array>,
      duplex: 'half',
    } as RequestInit);
    const accepted = (await res.json()) as any;
    if (res.status !== 202) throw new Error(`import: ${res.status} ${JSON.stringify(accepted)}`);
    const received = (performance.now() - started) / 1000;
    console.log(`received (202) after ${received.toFixed(1)} s`);

    let state: any;
    let killAt = args['kill-at'] !== undefined ? Number(args['kill-at']) : undefined;
    for (let last = ''; ;) {
      await new Promise((r) => setTimeout(r, 1000));
      state = await call(`/v1/certificates/imports/${accepted.importId}`, key);
      const line = `${state.status}: ${state.imported + state.unchanged + state.failed}/${state.rows}`;
      if (line !== last)
        process.stdout.write(`  ${((performance.now() - started) / 1000).toFixed(0)} s ${line}\n`);
      last = line;
      if (killAt !== undefined && state.imported >= killAt && state.status === 'running') {
        killAt = undefined;
        const rss = peakRssMiB(service.pid!);
        service.kill('SIGKILL');
        await new Promise((r) => service.once('exit', r));
        const killed = performance.now();
        service = await startService();
        console.log(
          `  killed (SIGKILL) at ${state.imported} imported (peak RSS ${rss.toFixed(0)} MiB), started again in ${((performance.now() - killed) / 1000).toFixed(1)} s`,
        );
      }
      if (state.status === 'done' || state.status === 'failed') break;
    }
    const total = (performance.now() - started) / 1000;
    const found = await call(
      `/v1/registry/certificates?number=IMP${String(ROWS - 1).padStart(10, '0')}`,
      key,
    );
    console.log(
      [
        `status ${state.status}: imported ${state.imported}, unchanged ${state.unchanged}, failed ${state.failed}`,
        `total ${total.toFixed(1)} s (receiving ${received.toFixed(1)} s, the job ${(total - received).toFixed(1)} s)`,
        `${(ROWS / total).toFixed(0)} rows/s overall, ${(ROWS / (total - received)).toFixed(0)} rows/s in the job`,
        `service peak RSS ${peakRssMiB(service.pid!).toFixed(0)} MiB (VmHWM)`,
        `last row searchable: ${found.total === 1}`,
        `in the database: ${await exactlyOnce()}`,
        `load average after: ${fs.readFileSync('/proc/loadavg', 'utf8').trim()}`,
      ].join('\n'),
    );
  } finally {
    service.kill('SIGTERM');
    await new Promise((r) => service.once('exit', r));
    await admin((c) => c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`));
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
