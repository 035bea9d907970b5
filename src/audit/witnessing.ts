import type { Logger } from 'pino';
import type { Clock } from '../clock';
import type { Database } from '../db/client';
import { loggableError } from '../shared/loggable-error';
import { latestCheckpoint } from './checkpoints.queries';
import {
  firstCheckpointSignedAfter,
  insertCosignature,
  latestCosignedSizes,
  latestWitnessedSize,
} from './cosignatures.queries';
import {
  MISBEHAVIOUR_CODES,
  WitnessClient,
  WitnessError,
  type ConsistencyProver,
  type SignedCheckpoint,
  type WitnessFailureCode,
} from './witness-client';
import type { WitnessEndpoint } from './witness-config';

/**
 * Getting the log's checkpoints cosigned by its witnesses (C2SP tlog-witness), in the background,
 * so that no write ever waits for a witness.
 *
 * Witnessing goes in rounds. A round offers one checkpoint, the latest when it began, to every
 * witness; the next round begins once the round's checkpoint has its quorum (or, without a
 * quorum, once every witness has answered or failed), with the latest checkpoint then. Offering all
 * witnesses the same checkpoint is what lets k of them cosign one tree size: witnesses that were
 * each sent "the latest" at their own pace would cosign different sizes, and a slow witness could
 * keep a quorum from ever forming. A witness still busy with an older round's checkpoint joins the
 * current round when it answers; one that fails is asked again, with the current round's
 * checkpoint, after an exponential backoff.
 *
 * Every instance sharing the database witnesses: witnesses keep their own state atomically, so a
 * second sender only costs a 409 and a resend from the witness's size (src/audit/witness-client.ts).
 */

/** How often the latest checkpoint is looked for between rounds. */
const POLL_INTERVAL_MS = 250;

export interface WitnessingOptions {
  db: Database;
  clock: Clock;
  witnesses: readonly WitnessEndpoint[];
  /** Cosignatures that make a checkpoint witnessed (0: none required). */
  quorum: number;
  prove: ConsistencyProver;
  logger?: Logger | undefined;
  /** One add-checkpoint request's limit (default 10 s). */
  timeoutMs?: number | undefined;
  /** First and largest retry delay after a failure (default 1 s and 5 min). */
  backoff?: { initialMs: number; maxMs: number } | undefined;
  pollIntervalMs?: number | undefined;
  fetch?: typeof fetch | undefined;
}

/** A witness's state as /readyz shows it (no URL: names only). */
export interface WitnessStatus {
  name: string;
  /** The largest checkpoint it has cosigned, as far as this instance knows (0: none). */
  cosignedSize: number;
  /** Failures since its last cosignature. */
  consecutiveFailures: number;
  lastFailure?: WitnessFailureCode | undefined;
}

/** How far the witnessed log is behind the log (see {@link CheckpointWitnessing.lag}). */
export interface WitnessLag {
  quorum: number;
  latestSize: number;
  /** The largest checkpoint with a quorum of cosignatures (0: none yet). */
  witnessedSize: number;
  /** Entries in the latest checkpoint and not in the latest witnessed one. */
  entries: number;
  /** How long the oldest of those has waited: since the first checkpoint after the witnessed one (0 when none). */
  seconds: number;
  witnesses: WitnessStatus[];
}

interface WitnessState {
  id: string;
  client: WitnessClient;
  busy: boolean;
  cosignedSize: number;
  /** The round's checkpoint size this witness last answered for (or failed on). */
  attemptedSize: number;
  failures: number;
  lastFailure?: WitnessFailureCode | undefined;
  nextAttemptAt: number;
}

/** `<name>+<key ID hex>`: how a witness is named in audit_cosignatures. */
export function witnessId(endpoint: WitnessEndpoint): string {
  return `${endpoint.verifier.name}+${endpoint.verifier.keyId.toString(16).padStart(8, '0')}`;
}

export class CheckpointWitnessing {
  readonly #options: WitnessingOptions;
  readonly #states: WitnessState[];
  readonly #ids: string[];
  #round: SignedCheckpoint | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #initialised: Promise<void> | undefined;
  readonly #inFlight = new Set<Promise<void>>();

  constructor(options: WitnessingOptions) {
    this.#options = options;
    this.#states = options.witnesses.map((endpoint) => ({
      id: witnessId(endpoint),
      client: new WitnessClient(endpoint, { timeoutMs: options.timeoutMs, fetch: options.fetch }),
      busy: false,
      cosignedSize: 0,
      attemptedSize: 0,
      failures: 0,
      nextAttemptAt: 0,
    }));
    this.#ids = this.#states.map((s) => s.id);
  }

  /** The witnesses' ids, as audit_cosignatures names them. */
  get witnessIds(): readonly string[] {
    return this.#ids;
  }

  get quorum(): number {
    return this.#options.quorum;
  }

  /**
   * Checkpoints from this size on must not be pruned: the round's, and the latest witnessed one
   * (the size the quorum-th most advanced witness has cosigned, at least one), which is served.
   * A witness that is down does not hold older ones back.
   */
  keepCheckpointsFrom(): number {
    const cosigned = this.#states.map((s) => s.cosignedSize).sort((a, b) => b - a);
    const witnessed = cosigned[Math.max(1, this.#options.quorum) - 1] ?? 0;
    const sizes = [witnessed, this.#round?.treeSize ?? 0].filter((size) => size > 0);
    return sizes.length > 0 ? Math.min(...sizes) : Number.MAX_SAFE_INTEGER;
  }

  /** Starts witnessing in the background (main.ts); idempotent. */
  start(): void {
    if (this.#running || this.#states.length === 0) return;
    this.#running = true;
    const tick = async () => {
      if (!this.#running) return;
      try {
        await this.step();
      } catch (error) {
        this.#options.logger?.warn({ err: loggableError(error) }, 'witnessing failed; retrying');
      }
      if (this.#running) {
        this.#timer = setTimeout(
          () => void tick(),
          this.#options.pollIntervalMs ?? POLL_INTERVAL_MS,
        );
      }
    };
    this.#timer = setTimeout(() => void tick(), 0);
  }

  /** Stops starting requests and waits for those under way. */
  async stop(): Promise<void> {
    this.#running = false;
    if (this.#timer) clearTimeout(this.#timer);
    // A witness that never answers would hold the stop for its whole timeout (an outside probe).
    for (const state of this.#states) state.client.abort();
    await Promise.allSettled([...this.#inFlight]);
  }

  /**
   * One step: begin a new round if the current one is over and the log has grown, then send the
   * round's checkpoint to every witness that is free, has not cosigned it and is not backing off.
   * Returns at once; requests run in the background (see {@link settled}).
   */
  async step(): Promise<void> {
    await this.#initialise();
    const latest = await latestCheckpoint(this.#options.db);
    if (!latest) return;
    if (!this.#round || (latest.treeSize > this.#round.treeSize && this.#roundOver())) {
      this.#round = { treeSize: latest.treeSize, note: latest.note };
    }
    const round = this.#round;
    const now = performance.now();
    for (const state of this.#states) {
      if (state.busy || state.cosignedSize >= round.treeSize || now < state.nextAttemptAt) continue;
      const request = this.#offer(state, round).finally(() => this.#inFlight.delete(request));
      this.#inFlight.add(request);
    }
  }

  /** Waits for every request under way (tests and benchmarks). */
  async settled(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  /** The witnesses' state in this instance. */
  statuses(): WitnessStatus[] {
    return this.#states.map((s) => ({
      name: s.client.name,
      cosignedSize: s.cosignedSize,
      consecutiveFailures: s.failures,
      lastFailure: s.lastFailure,
    }));
  }

  /**
   * Entries and seconds between the latest checkpoint and the latest witnessed one. Without a
   * quorum, a checkpoint counts as witnessed here with one cosignature.
   */
  async lag(): Promise<WitnessLag> {
    const { db, clock } = this.#options;
    const quorum = Math.max(1, this.#options.quorum);
    const [latest, witnessed] = await Promise.all([
      latestCheckpoint(db),
      latestWitnessedSize(db, this.#ids, quorum),
    ]);
    const latestSize = latest?.treeSize ?? 0;
    const witnessedSize = witnessed ?? 0;
    const entries = Math.max(0, latestSize - witnessedSize);
    let seconds = 0;
    if (entries > 0) {
      const since = await firstCheckpointSignedAfter(db, witnessedSize);
      if (since) seconds = Math.max(0, (clock.now().getTime() - since.getTime()) / 1000);
    }
    return {
      quorum: this.#options.quorum,
      latestSize,
      witnessedSize,
      entries,
      seconds,
      witnesses: this.statuses(),
    };
  }

  #initialise(): Promise<void> {
    // Where each witness stands, as far as this database knows: the first request then needs no
    // 409 round trip (a witness that moved on since answers one, and is resent to).
    this.#initialised ??= latestCosignedSizes(this.#options.db, this.#ids).then((sizes) => {
      for (const state of this.#states) {
        state.cosignedSize = sizes.get(state.id) ?? 0;
        state.client.oldSize = state.cosignedSize;
      }
    });
    this.#initialised.catch(() => (this.#initialised = undefined));
    return this.#initialised;
  }

  #roundOver(): boolean {
    const round = this.#round!;
    const cosigned = this.#states.filter((s) => s.cosignedSize >= round.treeSize).length;
    if (this.#options.quorum > 0 && cosigned >= this.#options.quorum) return true;
    return this.#states.every((s) => !s.busy && s.attemptedSize >= round.treeSize);
  }

  async #offer(state: WitnessState, round: SignedCheckpoint): Promise<void> {
    const { db, logger, prove } = this.#options;
    state.busy = true;
    try {
      const cosignature = await state.client.addCheckpoint(round, prove);
      await insertCosignature(db, {
        treeSize: cosignature.treeSize,
        witness: state.id,
        signatureLine: cosignature.signatureLine,
        cosignedAt: new Date(cosignature.timestamp * 1000),
      });
      state.cosignedSize = Math.max(state.cosignedSize, cosignature.treeSize);
      state.failures = 0;
      state.lastFailure = undefined;
      state.nextAttemptAt = 0;
    } catch (error) {
      if (await this.#overtaken(state, error)) return;
      state.failures += 1;
      const code = error instanceof WitnessError ? error.code : undefined;
      state.lastFailure = code ?? 'unexpected_status';
      const { initialMs, maxMs } = this.#options.backoff ?? { initialMs: 1_000, maxMs: 300_000 };
      const delay = Math.min(maxMs, initialMs * 2 ** Math.min(state.failures - 1, 20));
      // Jitter (±25 %) so that many logs, or many instances, do not retry in step.
      state.nextAttemptAt = performance.now() + delay * (0.75 + Math.random() / 2);
      const context = { witness: state.client.name, treeSize: round.treeSize, code };
      if (code && MISBEHAVIOUR_CODES.has(code)) {
        // The witness and the log disagree about the log's history: a split view or a rewritten
        // log, which is what witnesses exist to catch. Loud, and kept for the operator.
        logger?.error({ ...context, why: (error as Error).message }, 'witness refused the log');
      } else {
        logger?.warn(
          {
            ...context,
            err: code ? undefined : loggableError(error),
            why: code ? (error as Error).message : undefined,
          },
          'witness did not cosign; retrying later',
        );
      }
    } finally {
      state.attemptedSize = Math.max(state.attemptedSize, round.treeSize);
      state.busy = false;
    }
  }

  /**
   * Whether a `witness_ahead` answer only says that another instance (instances share the
   * database) had the witness cosign a later checkpoint while this instance's request was on its
   * way: this log has a checkpoint of the witness's size, so nothing disagrees, and the next offer
   * starts from the witness's size. Were its root at that size another, the proof from that size
   * in the next offer would be refused (422): the evidence is not lost.
   */
  async #overtaken(state: WitnessState, error: unknown): Promise<boolean> {
    if (!(error instanceof WitnessError) || error.code !== 'witness_ahead') return false;
    const witnessSize = error.witnessSize;
    if (witnessSize === undefined) return false;
    let latestSize: number;
    let storedSize: number;
    try {
      const { db } = this.#options;
      const [latest, stored] = await Promise.all([
        latestCheckpoint(db),
        latestCosignedSizes(db, [state.id]),
      ]);
      latestSize = latest?.treeSize ?? 0;
      storedSize = stored.get(state.id) ?? 0;
    } catch {
      return false;
    }
    if (latestSize < witnessSize) return false;
    // Counted toward a quorum only as far as a cosignature is stored: the other instance may not
    // have stored the witness's answer yet, or may have lost it.
    state.cosignedSize = Math.max(state.cosignedSize, Math.min(witnessSize, storedSize));
    state.client.oldSize = witnessSize;
    state.failures = 0;
    state.lastFailure = undefined;
    state.nextAttemptAt = 0;
    this.#options.logger?.debug(
      { witness: state.client.name, witnessSize },
      'witness already cosigned a later checkpoint of this log',
    );
    return true;
  }
}
