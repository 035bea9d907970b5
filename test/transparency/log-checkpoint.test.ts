import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditService } from '../../src/audit/audit.service';
import {
  checkpointBody,
  isSignedWithSeed,
  parseCheckpointBody,
} from '../../src/audit/checkpoint-note';
import { ConfigError, loadConfig } from '../../src/config';
import { isValidKeyName, openNote, parseVerifierKey, signNote } from '../../src/crypto/signed-note';
import { client, createTestContext, type Client, type TestContext } from '../helpers';
import { createIssuer } from '../fixtures';

describe('GET /log/checkpoint and /log/key (C2SP signed note)', () => {
  let ctx: TestContext;
  let api: Client;

  beforeAll(async () => {
    ctx = await createTestContext();
    api = client(ctx.app);
    await createIssuer(ctx, { name: 'Checkpoint Test CB' });
  });
  afterAll(() => ctx.close());

  it('serves a checkpoint note that the verifier key of /log/key opens, origin = host + /log', async () => {
    const key = await api.get('/log/key');
    expect(key.status).toBe(200);
    expect(key.headers.get('content-type')).toMatch(/^text\/plain/);
    const verifier = parseVerifierKey(key.text);
    expect(verifier.name).toBe('certmark.test/log');

    const res = await api.get('/log/checkpoint');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; charset=utf-8/i);
    const maxAge = Number(/max-age=(\d+)/.exec(res.headers.get('cache-control') ?? '')?.[1]);
    expect(maxAge).toBeGreaterThan(0);
    expect(maxAge).toBeLessThanOrEqual(10);

    const opened = openNote(res.text, [verifier]);
    const body = parseCheckpointBody(opened.text);
    expect(body.origin).toBe('certmark.test/log');
    expect(body.extensions).toEqual([]);
    // The JSON view speaks of the same tree.
    const json = (await api.get('/v1/transparency/checkpoint')).body;
    expect(body.size).toBe(json.treeSize);
    expect(body.size).toBeGreaterThan(0);
    expect(Buffer.from(body.root).toString('base64')).toBe(json.rootHash);
    // The note's text is exactly three lines; a tampered size fails the signature.
    expect(opened.text.split('\n')).toHaveLength(4);
    const forged = res.text.replace(`\n${body.size}\n`, `\n${body.size + 1}\n`);
    expect(() => openNote(forged, [verifier])).toThrow('invalid signature');
  });

  it('tells an instance whose origin is not the one the latest checkpoint was signed under', async () => {
    await api.get('/log/checkpoint');
    expect(await ctx.services.audit.foreignOrigin()).toBeUndefined();
    const elsewhere = new AuditService(
      ctx.handle.db,
      ctx.clock,
      ctx.keys.platformSeed,
      'localhost:3001/log',
    );
    expect(await elsewhere.foreignOrigin()).toBe('certmark.test/log');
  });

  it('refuses to start with another platform key than the one that signed the log', async () => {
    await api.get('/log/checkpoint');
    const withSeed = (seed: Uint8Array, origin = 'certmark.test/log') =>
      new AuditService(ctx.handle.db, ctx.clock, seed, origin);
    await expect(ctx.services.audit.assertSignsItsLog()).resolves.toBeUndefined();
    // Its own key under another origin: the log renamed, not re-keyed (foreignOrigin warns).
    await expect(
      withSeed(ctx.keys.platformSeed, 'localhost:3001/log').assertSignsItsLog(),
    ).resolves.toBeUndefined();
    // A seed generated anew, or another deployment's: refused, saying what to restore.
    const other = new Uint8Array(32).fill(7);
    await expect(withSeed(other).assertSignsItsLog()).rejects.toThrow(
      /^the platform-signing-seed in KEYS_DIR did not sign this database's transparency log/,
    );
    await expect(withSeed(other).assertSignsItsLog()).rejects.toMatchObject({
      name: 'KeyCustodyError',
    });
  });

  it('reads a note it cannot parse as signed by nobody', () => {
    const seed = new Uint8Array(32).fill(9);
    const note = signNote(
      'certmark.test/log\n1\n' + 'A'.repeat(43) + '=\n',
      'certmark.test/log',
      seed,
    );
    expect(isSignedWithSeed(note, seed)).toBe(true);
    expect(isSignedWithSeed(note, new Uint8Array(32).fill(8))).toBe(false);
    expect(isSignedWithSeed('not a note', seed)).toBe(false);
  });

  it('takes LOG_ORIGIN, and a base URL with a path, for the origin', () => {
    expect(loadConfig({ PUBLIC_BASE_URL: 'https://cm.example.org/base/' }).logOrigin).toBe(
      'cm.example.org/base/log',
    );
    expect(
      loadConfig({ PUBLIC_BASE_URL: 'https://cm.example.org', LOG_ORIGIN: 'log.example/x' })
        .logOrigin,
    ).toBe('log.example/x');
    expect(() => loadConfig({ LOG_ORIGIN: 'has space' })).toThrow('LOG_ORIGIN');
    expect(() => loadConfig({ LOG_ORIGIN: 'a+b' })).toThrow('LOG_ORIGIN');
  });

  it('holds LOG_ORIGIN to the key-name rule the checkpoints are signed under, at start', () => {
    // Each passed the old start-time rule (no \s, no "+") and then failed every checkpoint.
    for (const origin of ['log.example/\u0007x', 'log.example/\u0085', 'log\u007fexample', '']) {
      expect(isValidKeyName(origin)).toBe(false);
      expect(() => loadConfig({ LOG_ORIGIN: origin })).toThrow(ConfigError);
      expect(() => loadConfig({ LOG_ORIGIN: origin })).toThrow(
        /^invalid configuration: LOG_ORIGIN/,
      );
    }
    // The origin derived from PUBLIC_BASE_URL too: a "+" in its path would sign nothing.
    expect(() => loadConfig({ PUBLIC_BASE_URL: 'https://cm.example.org/a+b' })).toThrow(
      /^invalid configuration: LOG_ORIGIN/,
    );
    // What config takes, the checkpoint signs.
    const { logOrigin } = loadConfig({ LOG_ORIGIN: 'log.example/\u00e9t\u00e9' });
    expect(parseCheckpointBody(checkpointBody(logOrigin, 0, new Uint8Array(32))).origin).toBe(
      logOrigin,
    );
  });
});
