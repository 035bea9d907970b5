/**
 * Status lists (W3C Bitstring Status List), the figures issue 10 asks for:
 *
 * 1. size: `encodedList` (GZIP, multibase base64url) and the signed `vc+jwt` of a 131,072-entry
 *    list with 0, 1,000 and 10,000 bits set at random;
 * 2. reads: `GET /v1/status-lists/{id}` per second on the service (its own process on PostgreSQL,
 *    rate limit off, pinned to core 0; autocannon on core 1, 50 connections), plain and with
 *    `If-None-Match` (304);
 * 3. visibility: from a status change committing (the service call that answers 200 returning)
 *    to the list served over HTTP showing the bit, over repeated suspend/reinstate changes.
 *
 * The machine may be shared: figures vary with what else runs; rounds alternate plain and 304.
 *
 *   npx tsx bench/status-lists.ts [seconds=10] [rounds=3] [changes=50]
 */
import { randomInt } from 'node:crypto';
import { type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { decodeJwt } from 'jose';
import {
  decodeEncodedList,
  emptyBitstring,
  getStatusBit,
  setStatusBit,
} from '../src/crypto/bitstring-status-list';
import { signCredentialJws } from '../src/crypto/credential-jws';
import { generateSigningKey, jwkThumbprint } from '../src/crypto/ed25519';
import { encodeStatusList } from '../src/status-lists/encoded-list';
import { benchCertificate, setUpMarkBench } from './mark-bench-setup';
import { builtService, cpuSeconds, freePort, pinSelf, start } from './lib/process';

const seconds = Number(process.argv[2] ?? 10);
const rounds = Math.max(1, Number(process.argv[3] ?? 3));
const changes = Math.max(1, Number(process.argv[4] ?? 50));
const CONNECTIONS = 50;
const SERVER_CPU = 0;
const LOAD_CPU = 1;
const LENGTH = 131_072;

async function sizes(): Promise<void> {
  const { seed, publicKey } = generateSigningKey();
  const signer = { kid: jwkThumbprint(publicKey), seed };
  console.log(`list size, ${LENGTH} entries (16,384 bytes of bits), bits set at random:`);
  for (const set of [0, 1_000, 10_000]) {
    const bits = emptyBitstring(LENGTH);
    let count = 0;
    while (count < set) {
      const index = randomInt(LENGTH);
      if (getStatusBit(bits, index)) continue;
      setStatusBit(bits, index, true);
      count++;
    }
    const encodedList = encodeStatusList(bits);
    const decoded = decodeEncodedList(encodedList);
    if (Buffer.compare(Buffer.from(decoded), Buffer.from(bits)) !== 0)
      throw new Error('round trip');
    const jwt = await signCredentialJws(
      {
        '@context': ['https://www.w3.org/ns/credentials/v2'],
        id: 'https://certmark.test/v1/status-lists/00000000-0000-4000-8000-000000000000',
        type: ['VerifiableCredential', 'BitstringStatusListCredential'],
        issuer: 'https://certmark.test/v1/issuers/00000000-0000-4000-8000-000000000000',
        validFrom: new Date().toISOString(),
        validUntil: new Date(Date.now() + 86_400_000).toISOString(),
        credentialSubject: {
          id: 'https://certmark.test/v1/status-lists/00000000-0000-4000-8000-000000000000#list',
          type: 'BitstringStatusList',
          statusPurpose: 'revocation',
          encodedList,
          ttl: 60_000,
        },
      },
      signer,
    );
    console.log(
      `  ${String(set).padStart(6)} set: encodedList ${String(encodedList.length).padStart(6)} bytes, signed vc+jwt ${String(jwt.length).padStart(6)} bytes`,
    );
  }
}

async function load(url: string, headers: Record<string, string>, duration: number, pid: number) {
  const before = cpuSeconds((p) => p === pid);
  const result = await autocannon({ url, connections: CONNECTIONS, duration, headers });
  const cpu = (cpuSeconds((p) => p === pid) - before) / duration;
  return {
    rps: result.requests.average,
    line: `${result.requests.average.toFixed(0).padStart(6)} req/s   p50 ${String(result.latency.p50).padStart(3)} ms   p99 ${String(result.latency.p99).padStart(3)} ms   (2xx ${result['2xx']}, non-2xx ${result.non2xx}, errors ${result.errors}; server CPU ${(cpu * 100).toFixed(0)}% of one core)`,
  };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

async function main() {
  await sizes();
  pinSelf(LOAD_CPU);
  const bench = await setUpMarkBench();
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'certmark-bench-'));
  const children: ChildProcess[] = [];
  try {
    const cert = await bench.services.certificates.issueCertificate(
      bench.principal,
      benchCertificate('STATUS000001'),
    );
    const suspension = (
      decodeJwt(cert.credential).credentialStatus as {
        statusPurpose: string;
        statusListIndex: string;
        statusListCredential: string;
      }[]
    ).find((e) => e.statusPurpose === 'suspension')!;
    const port = await freePort();
    children.push(
      await start(
        [builtService()],
        {
          DATABASE_URL: bench.url,
          PORT: String(port),
          // The bench's own keys: the service signs the lists with the issuer's key wrapped under its KEK.
          KEYS_DIR: bench.keysDir,
          RATE_LIMIT_PER_MINUTE: '0',
          LOG_LEVEL: 'info',
          ADMIN_API_KEY: 'cm_bench-admin-key-000000000000000000000000000',
          PUBLIC_BASE_URL: 'https://certmark.test',
        },
        (line) => line.includes('certmark listening'),
        { cpu: SERVER_CPU },
      ),
    );
    const service = children[0]!;
    const listUrl = `http://127.0.0.1:${port}${new URL(suspension.statusListCredential).pathname}`;
    const first = await fetch(listUrl);
    const etag = first.headers.get('etag')!;
    await first.text();

    console.log(
      `\nlist reads: ${rounds} rounds of ${seconds} s (after 2 s warm-up), ${CONNECTIONS} connections; service on core ${SERVER_CPU}, autocannon on core ${LOAD_CPU}, PostgreSQL unpinned`,
    );
    await load(listUrl, {}, 2, service.pid!);
    const plain: number[] = [];
    const cached: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const a = await load(listUrl, {}, seconds, service.pid!);
      const b = await load(listUrl, { 'if-none-match': etag }, seconds, service.pid!);
      plain.push(a.rps);
      cached.push(b.rps);
      console.log(`round ${round + 1}`);
      console.log(`  GET (200, whole list)       ${a.line}`);
      console.log(`  GET If-None-Match (304)     ${b.line}`);
    }
    console.log(
      `median: ${median(plain).toFixed(0)} reads/s plain, ${median(cached).toFixed(0)} reads/s with If-None-Match`,
    );

    // Visibility: suspend and reinstate, each time reading the list over HTTP until the bit shows.
    const index = Number(suspension.statusListIndex);
    const afterAnswer: number[] = [];
    const fromStart: number[] = [];
    let reads = 0;
    for (let i = 0; i < changes; i++) {
      const status = i % 2 === 0 ? 'suspended' : 'valid';
      const started = performance.now();
      await bench.services.certificates.changeStatus(bench.principal, cert.id, {
        status,
        reason: 'bench',
        signatory: { name: 'Bench' },
      });
      const answered = performance.now();
      for (;;) {
        reads++;
        const res = await fetch(listUrl);
        const body = await res.text();
        if (res.status !== 200)
          throw new Error(`the list answered ${res.status}: ${body.slice(0, 200)}`);
        const payload = decodeJwt(body) as {
          credentialSubject: { encodedList: string };
        };
        const bit = getStatusBit(decodeEncodedList(payload.credentialSubject.encodedList), index);
        if (bit === (status === 'suspended')) break;
      }
      const visible = performance.now();
      afterAnswer.push(visible - answered);
      fromStart.push(visible - started);
    }
    const ms = (values: number[]) =>
      `median ${median(values).toFixed(1)} ms, max ${Math.max(...values).toFixed(1)} ms`;
    console.log(
      `\nstatus change → visible in the served list, ${changes} changes (${reads} list reads, ${reads - changes} of them still old):`,
    );
    console.log(
      `  from the change's answer: ${ms(afterAnswer)} (the first read after it shows the change)`,
    );
    console.log(`  from the change's start:  ${ms(fromStart)}`);
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(
      children.map((child) => new Promise((resolve) => child.once('exit', resolve))),
    );
    await bench.drop();
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

await main();
