import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { appendAuditEntry } from '../../src/audit/audit.queries';
import {
  logVerifier,
  parseCheckpointBody,
  signCheckpointNote,
} from '../../src/audit/checkpoint-note';
import { latestCheckpoint } from '../../src/audit/checkpoints.queries';
import { addCheckpointBody } from '../../src/audit/witness-client';
import { CheckpointWitnessing } from '../../src/audit/witnessing';
import { parseWitnessEndpoint } from '../../src/audit/witness-config';
import { systemActor } from '../../src/auth/principal';
import { leafHash, rootHash } from '../../src/crypto/merkle';
import { openNote, parseNote, type NoteVerifier } from '../../src/crypto/signed-note';
import { runAuditCommand } from '../../src/cli/audit';
import { client, createTestContext, type TestContext } from '../helpers';
import { startTestWitness, type TestWitness } from './witness';

let written = 0;
async function writeEntries(ctx: TestContext, count: number): Promise<number> {
  for (let i = 0; i < count; i++) {
    const n = written++;
    await ctx.handle.db.transaction((tx) =>
      appendAuditEntry(tx, ctx.clock.now(), {
        actor: systemActor,
        action: 'test.write',
        subjectType: 'test',
        subjectId: `witnessed-${n}`,
        change: { n },
      }),
    );
  }
  return ctx.services.audit.sync();
}

/** Runs witnessing rounds until `done` holds (each round waits for its requests). */
async function pump(witnessing: CheckpointWitnessing, done: () => Promise<boolean>): Promise<void> {
  for (let round = 0; round < 10; round++) {
    await witnessing.step();
    await witnessing.settled();
    if (await done()) return;
  }
  throw new Error('witnessing did not get there in 10 rounds');
}

const post = (witness: TestWitness, body: string) =>
  fetch(`${witness.url}/add-checkpoint`, { method: 'POST', body });

/** `certmark audit verify` against the service (requests go to the app in process). */
async function auditVerify(ctx: TestContext, args: string[]) {
  const out = { stdout: '', stderr: '' };
  const base = 'https://certmark.test';
  const code = await runAuditCommand(['verify', '--url', base, ...args], {
    fetch: async (url) =>
      ctx.app.request(url.replace(base, ''), {
        headers: { authorization: `Bearer ${ctx.adminKey}` },
      }),
    stdout: (text) => (out.stdout += text),
    stderr: (text) => (out.stderr += text),
  });
  return { code, ...out };
}

/** The witnesses whose cosignatures on the note verify (the log's signature must verify too). */
function cosigners(note: string, log: NoteVerifier, witnesses: TestWitness[]): string[] {
  const opened = openNote(note, [log, ...witnesses.map((w) => w.verifier)]);
  expect(opened.verified.map((v) => v.verifier.name)).toContain(log.name);
  return opened.verified.filter((v) => v.verifier !== log).map((v) => v.verifier.name);
}

describe('witnessed checkpoints: three witnesses, a quorum of two', () => {
  let ctx: TestContext;
  let witnesses: TestWitness[];
  let log: NoteVerifier;
  const logs = new Map<string, NoteVerifier[]>();

  beforeAll(async () => {
    witnesses = await Promise.all(
      ['a', 'b', 'c'].map((w) =>
        startTestWitness({
          name: `witness.test/${w}`,
          seed: new Uint8Array(randomBytes(32)),
          logs,
        }),
      ),
    );
    ctx = await createTestContext({
      WITNESSES: witnesses.map((w) => w.entry).join(','),
      WITNESS_QUORUM: '2',
      WITNESS_TIMEOUT_SECONDS: '1',
      METRICS_TOKEN: 'witnessing-test-token',
    });
    log = logVerifier(ctx.config.logOrigin, ctx.keys.platformSeed);
    logs.set(ctx.config.logOrigin, [log]);
  });
  afterAll(async () => {
    await ctx.services.audit.witnessing?.stop();
    await ctx.close();
    await Promise.all(witnesses.map((w) => w.close()));
  });

  it('sends add-checkpoint from size 0, then with a consistency proof, and serves the cosigned checkpoint', async () => {
    const witnessing = ctx.services.audit.witnessing!;
    const api = client(ctx.app);
    const first = await writeEntries(ctx, 3);
    await pump(witnessing, async () => (await ctx.services.audit.witnessLag())!.entries === 0);
    // A first request knows nothing of the witness: old 0 and no proof.
    for (const w of witnesses) expect(w.requests[0]).toMatch(/^old 0\n\n/);

    const second = await writeEntries(ctx, 5);
    await pump(
      witnessing,
      async () => (await ctx.services.audit.witnessLag())!.witnessedSize === second,
    );
    for (const w of witnesses) {
      const body = w.requests.at(-1)!;
      const [head] = body.split('\n\n');
      const [oldLine, ...proof] = head!.split('\n');
      expect(oldLine).toBe(`old ${first}`);
      expect(proof.length).toBeGreaterThan(0);
      expect(w.state.get(ctx.config.logOrigin)!.size).toBe(second);
    }

    const served = await api.get('/log/checkpoint');
    expect(served.status).toBe(200);
    expect(parseCheckpointBody(parseNote(served.text).text).size).toBe(second);
    expect(cosigners(served.text, log, witnesses).sort()).toEqual([
      'witness.test/a',
      'witness.test/b',
      'witness.test/c',
    ]);
    const ready = await api.get('/readyz');
    expect(ready.body.witnessing).toMatchObject({
      quorum: 2,
      latestSize: second,
      witnessedSize: second,
      entries: 0,
      seconds: 0,
    });
  });

  it('resends from the witness’s size after a 409 (text/x.tlog.size)', async () => {
    const witnessing = ctx.services.audit.witnessing!;
    const from = (await latestCheckpoint(ctx.handle.db))!.treeSize;
    // Another instance of the log fed witness a a larger checkpoint meanwhile.
    const to = await writeEntries(ctx, 2);
    const proof = await ctx.services.audit.consistencyProof(from, to);
    const fed = await post(
      witnesses[0]!,
      addCheckpointBody(
        from,
        proof.proof.map((p) => new Uint8Array(Buffer.from(p, 'base64'))),
        (await latestCheckpoint(ctx.handle.db))!.note,
      ),
    );
    expect(fed.status).toBe(200);

    const latest = await writeEntries(ctx, 2);
    const before = witnesses[0]!.answers.length;
    await pump(
      witnessing,
      async () => (await ctx.services.audit.witnessLag())!.witnessedSize === latest,
    );
    expect(witnesses[0]!.answers.slice(before)).toEqual([409, 200]);
    const [refused, resent] = witnesses[0]!.requests.slice(before);
    expect(refused).toMatch(new RegExp(`^old ${from}\n`));
    expect(resent).toMatch(new RegExp(`^old ${to}\n`));
    expect(witnesses[0]!.state.get(ctx.config.logOrigin)!.size).toBe(latest);
  });

  it('keeps writing while witnesses do not answer, reports the lag, and catches up when they return', async () => {
    const witnessing = ctx.services.audit.witnessing!;
    const api = client(ctx.app);
    const witnessed = (await ctx.services.audit.witnessLag())!.witnessedSize;
    witnesses[1]!.blackHole = true;
    witnesses[2]!.blackHole = true;
    witnessing.start();
    // Writes and checkpoints go on: nothing on the write path waits for a witness.
    const latest = await writeEntries(ctx, 10);
    expect(latest).toBe(witnessed + 10);
    ctx.clock.advance(30_000);
    await vi.waitFor(
      async () => {
        const lag = (await ctx.services.audit.witnessLag())!;
        expect(lag.witnesses.find((w) => w.name === 'witness.test/b')!.lastFailure).toBe(
          'unreachable',
        );
      },
      { timeout: 10_000, interval: 100 },
    );
    const ready = await api.get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.witnessing).toMatchObject({
      latestSize: latest,
      witnessedSize: witnessed,
      entries: 10,
    });
    expect(ready.body.witnessing.seconds).toBeGreaterThanOrEqual(30);
    const metrics = await api.get('/metrics', 'witnessing-test-token');
    expect(metrics.text).toMatch(/^certmark_audit_witnessed_lag_entries 10$/m);
    expect(metrics.text).toMatch(
      /^certmark_audit_witness_consecutive_failures\{witness="witness\.test\/b"\} [1-9]/m,
    );
    // GET /log/checkpoint still serves the witnessed checkpoint, not the newer one.
    const served = await api.get('/log/checkpoint');
    expect(parseCheckpointBody(parseNote(served.text).text).size).toBe(witnessed);

    witnesses[1]!.blackHole = false;
    witnesses[2]!.blackHole = false;
    await vi.waitFor(
      async () => expect((await ctx.services.audit.witnessLag())!.witnessedSize).toBe(latest),
      { timeout: 20_000, interval: 200 },
    );
    await witnessing.stop();
    const caughtUp = await api.get('/log/checkpoint');
    expect(parseCheckpointBody(parseNote(caughtUp.text).text).size).toBe(latest);
    expect(cosigners(caughtUp.text, log, witnesses).length).toBeGreaterThanOrEqual(2);
  });

  it('the test witness checks and records a size atomically: of two requests from one old size, one is cosigned and the other gets 409', async () => {
    const held = witnesses[0]!.state.get(ctx.config.logOrigin)!.size;
    const bodies: string[] = [];
    for (let i = 0; i < 2; i++) {
      const size = await writeEntries(ctx, 1);
      const proof = (await ctx.services.audit.consistencyProof(held, size)).proof;
      bodies.push(
        addCheckpointBody(
          held,
          proof.map((p) => new Uint8Array(Buffer.from(p, 'base64'))),
          (await latestCheckpoint(ctx.handle.db))!.note,
        ),
      );
    }
    const answers = await Promise.all(bodies.map((body) => post(witnesses[0]!, body)));
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409]);
    const refused = answers.find((a) => a.status === 409)!;
    expect(refused.headers.get('content-type')).toBe('text/x.tlog.size');
    expect(await refused.text()).toBe(`${witnesses[0]!.state.get(ctx.config.logOrigin)!.size}\n`);
  });

  it('certmark audit verify --witness … --quorum k checks the cosignatures of the served checkpoint', async () => {
    const keys = witnesses.flatMap((w) => ['--witness', w.vkey]);
    // The log key pinned, as a witness's user would: nothing left to compare by hand.
    const jwks = await client(ctx.app).get('/.well-known/jwks.json');
    const logKid = (jwks.body.keys as { kid: string; issuer?: string }[]).find(
      (k) => k.issuer === 'certmark',
    )!.kid;
    // The = form: a kid is base64url and may begin with '-'.
    const witnessed = await auditVerify(ctx, [...keys, '--quorum', '2', `--log-kid=${logKid}`]);
    expect(witnessed.stderr).toBe('');
    // Pinned to another key, the served checkpoint vouches for nothing.
    expect((await auditVerify(ctx, [`--log-kid=${logKid.slice(1)}A`])).code).toBe(1);
    expect(witnessed.code).toBe(0);
    expect(witnessed.stdout).toMatch(
      /\nWITNESSED: checkpoint of \d+ entries cosigned by [23] of 3 witnesses/,
    );
    // A witness that never saw this log: its quorum is not met.
    const stranger = await startTestWitness({
      name: 'witness.test/x',
      seed: new Uint8Array(randomBytes(32)),
      logs,
    });
    await stranger.close();
    const refused = await auditVerify(ctx, ['--witness', stranger.vkey]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(
      /NOT WITNESSED: 0 valid cosignatures of the 1 witnesses, 1 required/,
    );
    expect((await auditVerify(ctx, [...keys, '--quorum', '4'])).code).toBe(2);
    const twice = await auditVerify(ctx, [...keys, '--witness', witnesses[0]!.vkey]);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toContain('given twice');
    expect((await auditVerify(ctx, ['--quorum', '1'])).code).toBe(2);
  });
});

describe('a split view is refused by the witness and never served as witnessed', () => {
  let ctx: TestContext;
  let witness: TestWitness;
  let log: NoteVerifier;
  const logs = new Map<string, NoteVerifier[]>();

  beforeAll(async () => {
    witness = await startTestWitness({
      name: 'witness.test/w',
      seed: new Uint8Array(randomBytes(32)),
      logs,
    });
    ctx = await createTestContext({ WITNESSES: witness.entry, WITNESS_QUORUM: '1' });
    log = logVerifier(ctx.config.logOrigin, ctx.keys.platformSeed);
    logs.set(ctx.config.logOrigin, [log]);
  });
  afterAll(async () => {
    await ctx.close();
    await witness.close();
  });

  /** A checkpoint of another history of this log, signed with the log's own key. */
  const forkedCheckpoint = (size: number) => {
    const leaves = Array.from({ length: size }, (_, i) =>
      leafHash(new TextEncoder().encode(`forged ${i}`)),
    );
    return signCheckpointNote(ctx.keys.platformSeed, ctx.config.logOrigin, size, rootHash(leaves));
  };

  it('the witness that saw another history refuses the log’s proof (422); the checkpoint stays unwitnessed', async () => {
    // The log showed someone else a different tree of 2 entries, and that view reached the witness.
    expect((await post(witness, addCheckpointBody(0, [], forkedCheckpoint(2)))).status).toBe(200);

    const size = await writeEntries(ctx, 5);
    const witnessing = ctx.services.audit.witnessing!;
    await pump(
      witnessing,
      async () => (await ctx.services.audit.witnessLag())!.witnesses[0]!.lastFailure !== undefined,
    );
    // old 0 → 409 "2"; resent from 2 with the real tree's proof → 422.
    expect(witness.answers).toEqual([200, 409, 422]);
    expect(witness.state.get(ctx.config.logOrigin)!.size).toBe(2);
    const lag = (await ctx.services.audit.witnessLag())!;
    expect(lag).toMatchObject({ latestSize: size, witnessedSize: 0, entries: size });
    expect(lag.witnesses[0]!.lastFailure).toBe('inconsistent');
    // Served without the witness's cosignature: no quorum, so no client accepts it as witnessed.
    const served = await client(ctx.app).get('/log/checkpoint');
    expect(cosigners(served.text, log, [witness])).toEqual([]);
    const verified = await auditVerify(ctx, ['--witness', witness.vkey]);
    expect(verified.code).toBe(1);
    expect(verified.stdout).toMatch(/^OK: .*\nNOT WITNESSED: 0 valid cosignatures/s);
  });

  it('the witness refuses a rewritten history: another root at its size (409), a bad proof (422), an unknown key (403) or origin (404)', async () => {
    const held = witness.state.get(ctx.config.logOrigin)!;
    // Same size, another root: 409 without a size.
    const rewritten = signCheckpointNote(
      ctx.keys.platformSeed,
      ctx.config.logOrigin,
      held.size,
      leafHash(Uint8Array.of(1)),
    );
    const conflict = await post(witness, addCheckpointBody(held.size, [], rewritten));
    expect(conflict.status).toBe(409);
    expect(conflict.headers.get('content-type')).not.toMatch(/x\.tlog\.size/);
    // A larger rewritten tree with a proof that does not link it to the held root: 422.
    const bogus = await post(
      witness,
      addCheckpointBody(held.size, [new Uint8Array(32)], forkedCheckpoint(3)),
    );
    expect(bogus.status).toBe(422);
    // Signed by another key, or for an origin the witness does not follow.
    const stranger = new Uint8Array(randomBytes(32));
    expect(
      (
        await post(
          witness,
          addCheckpointBody(
            0,
            [],
            signCheckpointNote(stranger, ctx.config.logOrigin, 1, leafHash(Uint8Array.of(2))),
          ),
        )
      ).status,
    ).toBe(403);
    expect(
      (
        await post(
          witness,
          addCheckpointBody(
            0,
            [],
            signCheckpointNote(stranger, 'other.test/log', 1, leafHash(Uint8Array.of(2))),
          ),
        )
      ).status,
    ).toBe(404);
    expect(witness.state.get(ctx.config.logOrigin)!.size).toBe(held.size);
  });
});

describe('two instances of the log share one database and its witness', () => {
  let ctx: TestContext;
  let witness: TestWitness;
  const logs = new Map<string, NoteVerifier[]>();

  beforeAll(async () => {
    witness = await startTestWitness({
      name: 'witness.test/shared',
      seed: new Uint8Array(randomBytes(32)),
      logs,
    });
    ctx = await createTestContext({ WITNESSES: witness.entry, WITNESS_QUORUM: '1' });
    logs.set(ctx.config.logOrigin, [logVerifier(ctx.config.logOrigin, ctx.keys.platformSeed)]);
  });
  afterAll(async () => {
    await ctx.close();
    await witness.close();
  });

  /** Another instance's witnessing on the same database, its requests through `fetch`. */
  const secondInstance = (fetch: typeof globalThis.fetch, logger?: Logger) =>
    new CheckpointWitnessing({
      db: ctx.handle.db,
      clock: ctx.clock,
      witnesses: [parseWitnessEndpoint(witness.entry)],
      quorum: 1,
      prove: async (from, to) =>
        (await ctx.services.audit.consistencyProof(from, to)).proof.map(
          (hash) => new Uint8Array(Buffer.from(hash, 'base64')),
        ),
      logger,
      fetch,
    });

  it('a witness the other instance moved past this one’s checkpoint is neither a failure nor evidence of a split view', async () => {
    const first = ctx.services.audit.witnessing!;
    const witnessedBy = (size: number) => async () =>
      (await ctx.services.audit.witnessLag())!.witnessedSize === size;
    await pump(first, witnessedBy(await writeEntries(ctx, 2)));
    // The second instance's round is the checkpoint of these entries; while its request is on
    // its way, the first instance gets the witness to cosign a later checkpoint.
    const round = await writeEntries(ctx, 2);
    let overtaken = 0;
    const logger = { error: vi.fn(), warn: vi.fn(), debug: vi.fn(), info: vi.fn() };
    const second = secondInstance(
      async (url, init) => {
        if (overtaken === 0) {
          overtaken = await writeEntries(ctx, 2);
          await pump(first, witnessedBy(overtaken));
        }
        return fetch(url, init);
      },
      logger as unknown as Logger,
    );
    await second.step();
    await second.settled();

    expect(overtaken).toBeGreaterThan(round);
    // old <first's size> → 409 naming the later size, which this log has: the witness is fine.
    expect(witness.answers.at(-1)).toBe(409);
    expect(logger.error).not.toHaveBeenCalled();
    expect(second.statuses()).toEqual([
      {
        name: 'witness.test/shared',
        cosignedSize: overtaken,
        consecutiveFailures: 0,
        lastFailure: undefined,
      },
    ]);
    // Its next round is the latest checkpoint, already cosigned: nothing more is sent.
    const sent = witness.requests.length;
    await second.step();
    await second.settled();
    expect(witness.requests.length).toBe(sent);
  });

  it('a witness moved past this one’s checkpoint counts toward the quorum only with a stored cosignature', async () => {
    const stored = (await ctx.services.audit.witnessLag())!.witnessedSize;
    const round = await writeEntries(ctx, 2);
    let later = 0;
    const second = secondInstance(async (url, init) => {
      if (later === 0) {
        // Someone moves the witness on, and its cosignature is never stored here.
        later = await writeEntries(ctx, 2);
        const { proof } = await ctx.services.audit.consistencyProof(stored, later);
        const note = (await latestCheckpoint(ctx.handle.db))!.note;
        const body = addCheckpointBody(
          stored,
          proof.map((hash) => new Uint8Array(Buffer.from(hash, 'base64'))),
          note,
        );
        expect((await post(witness, body)).status).toBe(200);
      }
      return fetch(url, init);
    });
    await second.step();
    await second.settled();

    expect(later).toBeGreaterThan(round);
    expect(witness.answers.at(-1)).toBe(409);
    // Not a failure, and not a cosignature: where it stands for a quorum is what is stored.
    expect(second.statuses()).toEqual([
      {
        name: 'witness.test/shared',
        cosignedSize: stored,
        consecutiveFailures: 0,
        lastFailure: undefined,
      },
    ]);
    expect((await ctx.services.audit.witnessLag())!.witnessedSize).toBe(stored);
    // Its next round starts from the witness's size and gets the cosignature stored.
    await pump(second, async () => second.statuses()[0]!.cosignedSize === later);
    expect((await ctx.services.audit.witnessLag())!.witnessedSize).toBe(later);
  });
});
