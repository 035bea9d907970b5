import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAuditCommand, type AuditCommandIo } from '../../src/cli/audit';
import { runBundleCommand } from '../../src/cli/bundle';
import { cliVersion } from '../../src/cli/command';
import { fetchWithRetry, retryAfterSeconds, type RetryPolicy } from '../../src/cli/http';
import { runCli } from '../../src/cli/main';
import { progressBar } from '../../src/cli/progress';
import { runVerifyCommand, type VerifyCommandIo } from '../../src/cli/verify';
import { createIssuer, issueCertificate } from '../fixtures';
import { client, createTestContext, listen, type Listening, type TestContext } from '../helpers';
import { issueMarks, type IssuedMark } from '../marks/mark-helpers';

const run = promisify(execFile);
const { version } = JSON.parse(fs.readFileSync('package.json', 'utf8')) as { version: string };

/** Captures what a command writes; waits are recorded, never slept. */
function capture() {
  const out = { stdout: '', stderr: '', waits: [] as number[] };
  const retry: RetryPolicy = {
    attempts: 4,
    maxWaitSeconds: 60,
    defaultWaitSeconds: 2,
    sleep: async (ms) => {
      out.waits.push(ms);
    },
  };
  return {
    out,
    retry,
    stdout: (text: string) => (out.stdout += text),
    stderr: (text: string) => (out.stderr += text),
  };
}

const problem = (status: number, retryAfter?: string) =>
  new Response(JSON.stringify({ status, code: status === 429 ? 'rate_limited' : 'x' }), {
    status,
    headers: {
      'content-type': 'application/problem+json',
      ...(retryAfter ? { 'retry-after': retryAfter } : {}),
    },
  });

describe('certmark command line: conventions', () => {
  const verifyIo = (io: ReturnType<typeof capture>): VerifyCommandIo => ({
    ...io,
    readFile: () => {
      throw new Error('no file here');
    },
    fetch: () => Promise.reject(new Error('no network here')),
  });
  const auditIo = (io: ReturnType<typeof capture>): AuditCommandIo => ({
    ...io,
    fetch: () => Promise.reject(new Error('no network here')),
  });
  const commands: [string, (args: string[], io: ReturnType<typeof capture>) => Promise<number>][] =
    [
      ['certmark', (args, io) => runCli(args, io)],
      ['certmark verify', (args, io) => runVerifyCommand(args, verifyIo(io))],
      ['certmark audit', (args, io) => runAuditCommand(args, auditIo(io))],
      [
        'certmark bundle',
        (args, io) =>
          runBundleCommand(args, {
            ...io,
            fetch: () => Promise.reject(new Error('no network here')),
            writeFile: () => {
              throw new Error('no files here');
            },
            now: () => new Date(),
          }),
      ],
      ['certmark audit verify', (args, io) => runAuditCommand(['verify', ...args], auditIo(io))],
    ];

  it.each(commands)('%s answers --help and -h on stdout (exit 0)', async (name, command) => {
    for (const flag of ['--help', '-h']) {
      const io = capture();
      expect(await command([flag], io), `${name} ${flag}`).toBe(0);
      expect(io.out.stdout).toMatch(/^usage: certmark/);
      expect(io.out.stderr).toBe('');
    }
  });

  it.each(commands)('%s answers --version (exit 0)', async (_name, command) => {
    const io = capture();
    expect(await command(['--version'], io)).toBe(0);
    expect(io.out.stdout).toBe(`certmark ${version}\n`);
    expect(cliVersion()).toBe(version);
  });

  it.each(commands)(
    '%s refuses an unknown option with its usage on stderr (exit 2)',
    async (_name, command) => {
      const io = capture();
      expect(await command(['--no-such-option'], io)).toBe(2);
      expect(io.out.stderr).toMatch(/usage: certmark/);
      expect(io.out.stdout).toBe('');
    },
  );

  it('the installed binary follows them too', async () => {
    const { stdout } = await run(process.execPath, ['bin/certmark.js', '--version']);
    expect(stdout).toBe(`certmark ${version}\n`);
    const help = await run(process.execPath, ['bin/certmark.js', 'audit', 'verify', '-h']);
    expect(help.stdout).toMatch(/^usage: certmark audit verify/);
    await expect(run(process.execPath, ['bin/certmark.js', 'verify'])).rejects.toMatchObject({
      code: 2,
    });
  });

  it('reads Retry-After as seconds or an HTTP-date (RFC 9110 §10.2.3)', () => {
    const now = Date.parse('2026-11-24T10:00:00Z');
    expect(retryAfterSeconds('7', now)).toBe(7);
    expect(retryAfterSeconds(' 0 ', now)).toBe(0);
    expect(retryAfterSeconds('Tue, 24 Nov 2026 10:00:30 GMT', now)).toBe(30);
    expect(retryAfterSeconds('Tue, 24 Nov 2026 09:00:00 GMT', now)).toBe(0);
    expect(retryAfterSeconds('soon', now)).toBeUndefined();
    expect(retryAfterSeconds(null, now)).toBeUndefined();
  });

  it('retries 429 and 503 after Retry-After, a bounded number of times; nothing else', async () => {
    const io = capture();
    const answers = [problem(429, '3'), problem(503, '1'), new Response('{}', { status: 200 })];
    const res = await fetchWithRetry(async () => answers.shift()!, 'https://x.test/a', io.retry);
    expect(res.status).toBe(200);
    expect(io.out.waits).toEqual([3000, 1000]);

    const always = capture();
    let calls = 0;
    const busy = await fetchWithRetry(
      async () => (calls++, problem(429)),
      'https://x.test/b',
      always.retry,
    );
    expect([busy.status, calls]).toEqual([429, 4]);
    expect(always.out.waits).toEqual([2000, 2000, 2000]); // no Retry-After: the default wait

    const tooLong = capture();
    calls = 0;
    const later = await fetchWithRetry(
      async () => (calls++, problem(503, '3600')),
      'https://x.test/c',
      tooLong.retry,
    );
    expect([later.status, calls, tooLong.out.waits]).toEqual([503, 1, []]);

    calls = 0;
    const notFound = await fetchWithRetry(
      async () => (calls++, problem(404, '1')),
      'https://x.test/d',
      capture().retry,
    );
    expect([notFound.status, calls]).toEqual([404, 1]);
  });

  it('draws a progress bar on a terminal, and nothing when not enabled', () => {
    const tty = Object.assign(new PassThrough(), { isTTY: true, columns: 100 });
    let drawn = '';
    tty.on('data', (chunk: Buffer) => (drawn += chunk.toString()));
    const bar = progressBar({ label: 'entries', enabled: true, stream: tty });
    bar.update(0, 200);
    bar.update(200, 200);
    bar.stop();
    expect(drawn).toContain('entries [');
    expect(drawn).toContain('200/200');

    const quiet = Object.assign(new PassThrough(), { isTTY: true, columns: 100 });
    let nothing = '';
    quiet.on('data', (chunk: Buffer) => (nothing += chunk.toString()));
    const off = progressBar({ label: 'entries', enabled: false, stream: quiet });
    off.update(1, 2);
    off.stop();
    expect(nothing).toBe('');
  });
});

describe('certmark command line against the service', () => {
  let ctx: TestContext;
  let server: Listening;
  let mark: IssuedMark;

  beforeAll(async () => {
    ctx = await createTestContext({ RATE_LIMIT_PER_MINUTE: '2' });
    const api = client(ctx.app);
    const issuer = await createIssuer(ctx);
    const certificate = await issueCertificate(api, issuer.key);
    [mark] = (await issueMarks(api, issuer.key, certificate.id, { count: 1 })).marks as [
      IssuedMark,
    ];
    server = await listen(ctx.app);
  });
  afterAll(async () => {
    await server.close();
    await ctx.services.marks.close();
    await ctx.close();
  });

  it('verify --jwks takes the JWKS URL', async () => {
    const io = capture();
    const code = await runVerifyCommand(
      [mark.url, '--jwks', `${server.url}/.well-known/jwks.json`],
      { ...io, readFile: () => '', fetch: (url) => fetch(url) },
    );
    expect(io.out.stderr).toBe('');
    expect(code).toBe(0);
    expect(io.out.stdout).toMatch(/^authentic-signature: mark /);
  });

  it('audit verify waits out the service’s own 429 and gives up after a bounded number of tries', async () => {
    // Two anonymous requests a minute: the limiter soon refuses, with its Retry-After, and waits
    // that are recorded but not slept never see its window end.
    const io = capture();
    let refused = 0;
    const code = await runAuditCommand(['verify', '--url', server.url], {
      ...io,
      fetch: async (url) => {
        const res = await fetch(url);
        if (res.status === 429) refused++;
        return res;
      },
    });
    expect(code).toBe(2);
    expect(refused).toBe(4);
    expect(io.out.waits).toHaveLength(3);
    for (const ms of io.out.waits) {
      expect(ms).toBeGreaterThan(0);
      expect(ms).toBeLessThanOrEqual(60_000);
    }
    expect(io.out.stderr).toMatch(/answered 429/);
  });

  it('audit verify succeeds once the service answers again, with a bar when watched', async () => {
    const io = capture();
    let busy = 2;
    const tty = Object.assign(new PassThrough(), { isTTY: true, columns: 100 });
    let drawn = '';
    tty.on('data', (chunk: Buffer) => (drawn += chunk.toString()));
    const code = await runAuditCommand(['verify', '--url', server.url], {
      ...io,
      fetch: async (url) =>
        busy-- > 0
          ? problem(503, '2')
          : ctx.app.request(url.replace(server.url, ''), {
              headers: { authorization: `Bearer ${ctx.adminKey}` },
            }),
      progress: ({ json }) => progressBar({ label: 'entries', enabled: !json, stream: tty }),
    });
    // Nothing pinned the log key: the note says whose JWKS it came from.
    expect(io.out.stderr).toMatch(/^note: the log key was taken from .*'s own JWKS/);
    expect(code).toBe(0);
    expect(io.out.waits).toEqual([2000, 2000]);
    expect(io.out.stdout).toMatch(/^OK: \d+ entries/);
    expect(drawn).toMatch(/entries \[/);
  });
});
