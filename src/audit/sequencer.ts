import type { Logger } from 'pino';
import type { Clock } from '../clock';
import type { Database } from '../db/client';
import { loggableError } from '../shared/loggable-error';
import {
  auditLeafHashes,
  integrateEntries,
  lastDrawnEntryId,
  pendingEntries,
  pendingThrough,
  sequencerState,
  sequencingWork,
  takeSequencerLock,
  type HorizonMove,
  type SequencerHorizon,
} from './audit.queries';
import { signCheckpointNote } from './checkpoint-note';
import { insertCheckpoint, latestCheckpoint, pruneCheckpoints } from './checkpoints.queries';
import type { TreeHead } from './tree-head';

/** What a pass integrated: the entries' ids, and their leaf hashes from leaf index `from` on. */
interface Integrated {
  ids: number[];
  from: number;
  leaves: Uint8Array;
}

/**
 * The audit log's sequencer: integrates committed entries into the Merkle tree in batches and signs
 * a checkpoint after each batch (as Sunlight and Tessera do), so that writers never wait for one
 * another.
 *
 * A change's transaction only inserts its entry (src/audit/audit.queries.ts): durable with the
 * change, exactly once, no lock, and nothing else to maintain. One sequencer at a time, across
 * every instance sharing the database, holds a transaction-scoped advisory lock while it
 *   1. reads the size of the tree (MAX(seq) of audit_positions) and its horizon,
 *   2. takes up to BATCH committed entries not yet integrated, in id order (those above the
 *      horizon without a position: see SequencerHorizon in audit.queries.ts),
 *   3. gives them the next seqs, densely, and their leaf hashes: one multi-row INSERT into
 *      audit_positions (the entries' own rows are never rewritten),
 *   4. moves the horizon past what is settled,
 * and commits. If it dies, its transaction rolls back and the entries stay pending for the next
 * sequencer: nothing is lost, and nothing integrated twice (an entry has at most one position).
 *
 * Order: an entry is integrated in the first batch whose snapshot sees it committed, so the log's
 * order is the order in which entries became visible. An id (a bigserial) is taken when the insert
 * runs, not when the transaction commits, so a long transaction may commit an entry with a smaller
 * id after a larger one was integrated; it then simply gets a later seq. Seqs are never assigned to
 * an entry that is still in flight, so there are no gaps to wait for and no "holes" a late commit
 * could fall into. What the order guarantees: an entry whose transaction committed before another
 * transaction began always precedes that transaction's entries (causal order); entries of
 * concurrent transactions are ordered by id within a batch.
 *
 * After a commit it reads the new leaves into the tree head, signs a C2SP checkpoint of the new
 * size and stores it (audit_checkpoints). A checkpoint lost to a crash between the two is signed by
 * the next pass, which signs whenever the latest stored checkpoint is smaller than the tree.
 */

/** Entries per batch: one INSERT and at most ~1 MB of rows read. */
export const SEQUENCE_BATCH = 4096;
/**
 * How often an idle sequencer looks for committed entries (commit → checkpoint stays well under
 * 1 s; a longer interval measured no faster audited writes: docs/decisions.md).
 * A look is one query of two index-only probes, so polling costs an idle service next to nothing.
 * (A NOTIFY from each writer's transaction would wake it sooner, but PostgreSQL serialises the
 * commits of notifying transactions on one lock: writers would wait for each other.)
 */
export const SEQUENCE_INTERVAL_MS = 100;
/** A sequencer failing pass after pass (the database away) logs at most once in this long. */
const FAILURE_LOG_INTERVAL_MS = 10_000;
/** Signed checkpoints older than this are pruned (the latest is always kept). */
const CHECKPOINT_RETENTION_MS = 60 * 60 * 1000;

export interface SequencerOptions {
  db: Database;
  clock: Clock;
  head: TreeHead;
  platformSeed: Uint8Array;
  origin: string;
  logger?: Logger | undefined;
  /** After each published checkpoint: the ids it newly covers (benchmarks measure latency with it). */
  onPublished?: ((published: { treeSize: number; ids: readonly number[] }) => void) | undefined;
  /** Checkpoints smaller than this are kept by pruning (the witness client's need). */
  keepCheckpointsFrom?: (() => number) | undefined;
}

export class AuditSequencer {
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  /** The latest pass of this process: running, or waiting for the one before it. */
  #pass: Promise<number> | undefined;
  /**
   * A pass waiting for the one running, not yet started: whoever asks for a pass meanwhile shares
   * it (it starts after they asked, so it sees what they committed), and a sync() that shares a
   * background one makes it wait for the lock.
   */
  #queued: { pass: Promise<number>; wait: boolean } | undefined;
  #started = 0;
  #published = 0;
  /** Whether this process's latest pass integrated entries. */
  #lastPassIntegrated = false;
  /** The last entry id drawn when this process's latest integrating pass began (its candidate). */
  #drawnAtLastPass = 0;
  /**
   * Whether this process's tree has been found to yield the latest checkpoint stored before it
   * signed its first: until then it signs nothing (see #refuseFork).
   */
  #agreesWithStored = false;
  /** When a failed pass was last logged, and how many failed since. */
  #failureLoggedAt = Number.NEGATIVE_INFINITY;
  #failuresUnlogged = 0;

  constructor(private readonly options: SequencerOptions) {}

  /**
   * Integrates every entry committed before the call and publishes a checkpoint covering them;
   * waits for another instance's sequencer if it holds the lock. What a read that must see its own
   * writes (a supervisor's search, the JSON proofs) calls first. Returns the tree size.
   */
  async sync(): Promise<number> {
    // Every entry committed before the call has an id up to this one: stop once those are in,
    // however fast later entries arrive (a full batch alone would keep it going under load).
    const target = await lastDrawnEntryId(this.options.db);
    for (;;) {
      const integrated = await this.#once(true);
      if (integrated < SEQUENCE_BATCH || !(await pendingThrough(this.options.db, target))) break;
    }
    return this.options.head.size;
  }

  /** Starts the background loop (main.ts); idempotent. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    const tick = async () => {
      if (!this.#running) return;
      let integrated = 0;
      try {
        integrated = await this.#once(false);
      } catch (error) {
        // Retried every interval: while the database is away, one line every ten seconds says so
        // (with how many tries failed since the last), not ten a second.
        this.#failuresUnlogged += 1;
        const now = performance.now();
        if (now - this.#failureLoggedAt >= FAILURE_LOG_INTERVAL_MS) {
          const log = error instanceof AuditForkError ? 'error' : 'warn';
          this.options.logger?.[log](
            { err: loggableError(error), failedPasses: this.#failuresUnlogged },
            'audit sequencing failed; retrying',
          );
          this.#failureLoggedAt = now;
          this.#failuresUnlogged = 0;
        }
      }
      if (!this.#running) return;
      // A full batch means more are waiting: go again at once.
      this.#timer = setTimeout(
        () => void tick(),
        integrated >= SEQUENCE_BATCH ? 0 : SEQUENCE_INTERVAL_MS,
      );
    };
    this.#timer = setTimeout(() => void tick(), 0);
  }

  /** Stops the loop; a pass in progress finishes. */
  async stop(): Promise<void> {
    this.#running = false;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#pass?.catch(() => {});
  }

  /** Passes this process has started (background and sync()'s alike). */
  get passes(): number {
    return this.#started;
  }

  /**
   * A pass that starts after this call: the one already waiting to start, or a new one after the
   * pass running. However many callers ask while a pass runs, one more pass follows it.
   */
  #once(wait: boolean): Promise<number> {
    const queued = this.#queued;
    if (queued) {
      queued.wait ||= wait;
      return queued.pass;
    }
    const slot = { wait, pass: Promise.resolve(0) };
    const pass = (this.#pass ?? Promise.resolve(0))
      .catch(() => 0)
      .then(() => {
        if (this.#queued === slot) this.#queued = undefined;
        this.#started += 1;
        return this.#integrateAndPublish(slot.wait);
      });
    slot.pass = pass;
    this.#queued = slot;
    this.#pass = pass;
    // Clears the slot either way; the caller handles the rejection (never an unhandled one here).
    const clear = () => {
      if (this.#pass === pass) this.#pass = undefined;
    };
    pass.then(clear, clear);
    return pass;
  }

  async #integrateAndPublish(wait: boolean): Promise<number> {
    const { db } = this.options;
    const work = await this.#work();
    // An idle background pass costs that look: nothing to integrate, nothing left unsigned.
    // sync() goes on to advance the tree head, which a reader that must see its writes relies on.
    if (!wait && !work.integrate && !work.unpublished) return 0;
    let integrated: Integrated = { ids: [], from: 0, leaves: new Uint8Array(0) };
    if (work.integrate) {
      integrated = await db.transaction(async (tx) => {
        if (!(await takeSequencerLock(tx, wait))) return integrated;
        // Before this transaction writes (and so has a transaction id): see SequencerHorizon.
        const { horizon, lastDrawn, size } = await sequencerState(tx);
        this.#drawnAtLastPass = lastDrawn;
        const batch = await pendingEntries(tx, SEQUENCE_BATCH);
        const ids = batch.map((e) => Number(e.id));
        const leaves = auditLeafHashes(batch, size + 1);
        const move = horizonMove(
          horizon,
          lastDrawn,
          batch.length < SEQUENCE_BATCH ? undefined : ids.at(-1),
        );
        await integrateEntries(tx, size + 1, ids, leaves, move);
        return { ids, from: size, leaves };
      });
    }
    // Committed. A background pass hands the batch's leaves to the tree head, which takes them as
    // they are instead of reading them back, and stops there. sync() reads to the end of the tree:
    // another instance may have integrated the caller's entry after this batch.
    const grew = integrated.ids.length > 0;
    this.#lastPassIntegrated = grew;
    const treeSize = await this.#publish(!wait && grew ? integrated : undefined, grew);
    if (grew) this.options.onPublished?.({ treeSize, ids: integrated.ids });
    return integrated.ids.length;
  }

  /**
   * Whether a pass has entries to integrate or a horizon to move, and a checkpoint to sign. Under
   * load, a last pass that integrated entries, or ids drawn since it began, say a pass is due, for
   * nothing or the price of reading the sequence; only otherwise does it take the full look
   * (sequencingWork), which also reads every entry above the horizon that the last pass
   * integrated. That look is what finds an entry drawn before the last pass but committed after
   * it, another instance's entries (their ids may all be older), a horizon to move, or a
   * checkpoint a crash left unsigned.
   */
  async #work(): Promise<{ integrate: boolean; unpublished: boolean }> {
    const { db } = this.options;
    if (this.#lastPassIntegrated || (await lastDrawnEntryId(db)) > this.#drawnAtLastPass) {
      return { integrate: true, unpublished: true };
    }
    const work = await sequencingWork(db);
    return { integrate: work.pending || work.horizonBehind, unpublished: work.unpublished };
  }

  /**
   * Before a process signs its first checkpoint: the tree it has read must yield the latest
   * checkpoint stored (by this log's key, any instance, any earlier run) at that size. A tree head
   * reads each leaf once and keeps it, so this is checked once per process: what a rogue operator
   * rewrites under a running service reaches a tree only when one is read anew, at the next start,
   * which then signs nothing (every pass fails saying why) rather than a second history under the
   * same key (an outside probe had one signed after rewriting a position and restarting).
   */
  async #refuseFork(): Promise<void> {
    const { db, head } = this.options;
    const stored = await latestCheckpoint(db);
    if (!stored || stored.treeSize === 0) return;
    // Another instance may have integrated and signed since this tree was read: read on first.
    if (stored.treeSize > head.size) await head.advance();
    const yields =
      stored.treeSize <= head.size &&
      Buffer.from(await head.rangeRoot(0, stored.treeSize)).equals(Buffer.from(stored.rootHash));
    if (!yields) throw new AuditForkError(stored.treeSize);
  }

  /**
   * Signs and stores a checkpoint of the current tree when the latest stored one is smaller;
   * `appended` is the batch this pass has just committed (handed to the tree head). After a pass
   * that integrated entries the tree has grown past every stored checkpoint, so it signs without
   * looking (another instance may since have signed a larger one: a smaller one stored after it
   * changes nothing, the latest is the largest).
   */
  async #publish(appended: Integrated | undefined, grew: boolean): Promise<number> {
    const { db, head, platformSeed, origin, clock } = this.options;
    const { size, root } = await head.advance(appended);
    if (size === 0) return size;
    if (!this.#agreesWithStored) {
      await this.#refuseFork();
      this.#agreesWithStored = true;
    }
    if (!grew && ((await latestCheckpoint(db))?.treeSize ?? 0) >= size) return size;
    const signedAt = clock.now();
    await insertCheckpoint(db, {
      treeSize: size,
      rootHash: root,
      note: signCheckpointNote(platformSeed, origin, size, root),
      signedAt,
    });
    if (++this.#published % 100 === 0) {
      const keepFrom = Math.min(size, this.options.keepCheckpointsFrom?.() ?? size);
      await pruneCheckpoints(db, new Date(signedAt.getTime() - CHECKPOINT_RETENTION_MS), keepFrom);
    }
    return size;
  }
}

/** The stored log no longer yields a checkpoint the log's key signed: nothing more is signed. */
export class AuditForkError extends Error {
  constructor(treeSize: number) {
    super(
      `the audit log as stored no longer yields the checkpoint signed at size ${treeSize} ` +
        '(rows rewritten or removed under the database): refusing to sign a checkpoint that would fork it',
    );
    this.name = 'AuditForkError';
  }
}

/**
 * After a batch: the horizon moves to the settled candidate (not past the batch's last entry when
 * the batch was full: entries above it may still wait), and a new candidate is noted once the old
 * one is settled; nothing moves while it is not. See SequencerHorizon (audit.queries.ts) for why
 * this never skips an entry.
 */
function horizonMove(
  horizon: SequencerHorizon,
  lastDrawn: number,
  lastOfFullBatch: number | undefined,
): HorizonMove | undefined {
  const { integratedThrough, candidateId, candidateSettled } = horizon;
  if (candidateId !== null && !candidateSettled) return undefined; // still waiting on transactions
  const through =
    candidateId === null
      ? integratedThrough
      : Math.max(integratedThrough, Math.min(candidateId, lastOfFullBatch ?? candidateId));
  return { integratedThrough: through, candidateId: lastDrawn };
}
