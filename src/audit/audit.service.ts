import type { PublishedEntry } from './audit-verifier';
import type { Clock } from '../clock';
import type { Database } from '../db/client';
import { AppError } from '../errors';
import { signCheckpoint, type Checkpoint } from './checkpoint';
import { isSignedWithSeed, logVerifierKey, signCheckpointNote } from './checkpoint-note';
import { KeyCustodyError } from '../keystore/key-material';
import {
  type AuditEntryRow,
  auditEntriesByIndex,
  auditEntriesForSubjects,
  auditLogSize,
  leafHashesByIndex,
  searchAuditLog,
} from './audit-log.queries';
import {
  consistencyProofRanges,
  HASH_LENGTH,
  inclusionProofRanges,
  rootHash,
} from '../crypto/merkle';
import { TreeHead } from './tree-head';
import { ImmutableTileCache } from './tile-cache';
import { leavesPerHash, TILE_WIDTH, tileExists, type TileAddress } from './tiles';
import { auditLeafData, changeDigest } from './audit.queries';
import { AuditForkError, AuditSequencer, type SequencerOptions } from './sequencer';
import { checkpointOfSize, latestCheckpoint } from './checkpoints.queries';
import { sequencingLag } from './audit.queries';
import type { Logger } from 'pino';
import { cosignaturesOf, latestWitnessedSize } from './cosignatures.queries';
import type { WitnessEndpoint } from './witness-config';
import { CheckpointWitnessing, type WitnessingOptions, type WitnessLag } from './witnessing';
import { toBase64 } from '../crypto/base64';
import { canonicalJson } from '../crypto/canonical-json';

/** Largest page of /v1/transparency/entries: about 4 MB of JSON. */
export const MAX_ENTRIES_PAGE = 10_000;

/**
 * An entry as the public sees it: exactly the fields its Merkle leaf commits to and the leaf
 * (the shape the verifier reads), with its index in the tree.
 */
export interface TransparencyEntry extends PublishedEntry {
  index: number;
}

/** A row the sequencer has integrated: it has its position and leaf hash. */
type IntegratedRow = AuditEntryRow & { seq: number; leafHash: Uint8Array };

export function transparencyEntry(row: AuditEntryRow): TransparencyEntry {
  if (row.seq === null || row.leafHash === null) {
    throw new Error('transparencyEntry: the entry is not integrated yet');
  }
  return integratedEntry(row as IntegratedRow);
}

function integratedEntry(row: IntegratedRow): TransparencyEntry {
  return {
    index: row.seq - 1,
    seq: row.seq,
    at: row.at.toISOString(),
    actorKeyId: row.actorKeyId,
    actorRole: row.actorRole,
    signatory: row.signatory ?? null,
    action: row.action,
    subjectType: row.subjectType,
    subjectId: row.subjectId,
    changeDigest: row.changeDigest,
    leafHash: toBase64(row.leafHash),
  };
}

/** An entry the sequencer has not integrated yet, as a supervisor's search shows it. */
function pendingEntry(row: AuditEntryRow) {
  return {
    at: row.at.toISOString(),
    actorKeyId: row.actorKeyId,
    actorRole: row.actorRole,
    signatory: row.signatory ?? null,
    action: row.action,
    subjectType: row.subjectType,
    subjectId: row.subjectId,
    changeDigest: row.changeDigest,
  };
}

export interface AuditSearch {
  subject?: string | undefined;
  subjectType?: string | undefined;
  action?: string | undefined;
  since?: Date | undefined;
  page: number;
  pageSize: number;
}

/**
 * Reading the audit log (supervisors) and publishing it as a transparency log (anyone): signed
 * checkpoints, inclusion and consistency proofs (RFC 9162), and the entries, so anyone can
 * recompute every leaf and the root (see audit-verifier.ts and `certmark audit verify`).
 */
/** The witnesses of the log and how they are asked (config.witnesses, config.witnessQuorum). */
export interface WitnessingConfig {
  witnesses: readonly WitnessEndpoint[];
  quorum: number;
  timeoutMs?: number | undefined;
  backoff?: WitnessingOptions['backoff'];
  pollIntervalMs?: number | undefined;
  fetch?: typeof fetch | undefined;
}

export class AuditService {
  readonly #head: TreeHead;
  readonly #fullTiles = new ImmutableTileCache();
  readonly sequencer: AuditSequencer;
  /** Cosignatures from the configured witnesses; undefined without witnesses. */
  readonly witnessing: CheckpointWitnessing | undefined;

  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
    private readonly platformSeed: Uint8Array,
    /** The checkpoint origin line and note key name (config.logOrigin). */
    readonly origin: string,
    options: {
      logger?: Logger | undefined;
      onPublished?: SequencerOptions['onPublished'];
      witnessing?: WitnessingConfig | undefined;
    } = {},
  ) {
    // One tree head per instance: it signs checkpoints, and a row rewritten under it (by someone
    // with database superuser rights) cannot change a root it has already signed.
    this.#head = new TreeHead((from, to) => leafHashesByIndex(db, from, to));
    const { witnessing, ...sequencerOptions } = options;
    this.witnessing =
      witnessing && witnessing.witnesses.length > 0
        ? new CheckpointWitnessing({
            db,
            clock,
            ...witnessing,
            logger: options.logger,
            prove: (from, to) => this.#consistencyHashes(from, to),
          })
        : undefined;
    this.sequencer = new AuditSequencer({
      db,
      clock,
      head: this.#head,
      platformSeed,
      origin,
      ...sequencerOptions,
      // The checkpoint being witnessed and the witnessed ones are served and cosigned: kept.
      keepCheckpointsFrom: this.witnessing
        ? () => this.witnessing!.keepCheckpointsFrom()
        : undefined,
    });
  }

  /** Starts sending checkpoints to the witnesses in the background (main.ts); a no-op without any. */
  startWitnessing(): void {
    this.witnessing?.start();
  }

  /**
   * How far the witnessed log is behind the log: entries in the latest checkpoint but not in the
   * latest witnessed one, how long they have waited, and each witness's state. Undefined without
   * witnesses. For /readyz and a gauge ("audit witnessed lag").
   */
  witnessLag(): Promise<WitnessLag | undefined> {
    return this.witnessing ? this.witnessing.lag() : Promise.resolve(undefined);
  }

  /** The consistency proof's hashes between two sizes of the integrated tree. */
  async #consistencyHashes(from: number, to: number): Promise<Uint8Array[]> {
    await this.#head.advance();
    return this.#head.rangeRoots(consistencyProofRanges(from, to));
  }

  /** Integrates every committed entry and publishes a checkpoint covering them (see AuditSequencer.sync). */
  sync(): Promise<number> {
    return this.sequencer.sync();
  }

  /**
   * {@link sync} before a read that must see its own writes: a log its sequencer refuses to sign
   * (AuditForkError: rewritten under the database) is still read as stored — a supervisor looking
   * into the rewrite needs the search, and the proofs show what is there — while nothing that
   * signs goes on.
   */
  async #syncToRead(): Promise<void> {
    try {
      await this.sync();
    } catch (error) {
      if (!(error instanceof AuditForkError)) throw error;
    }
  }

  /** Starts integrating in the background (main.ts). */
  startSequencer(): void {
    this.sequencer.start();
  }

  /**
   * How far the log is behind the writes: committed entries not yet in the tree and the age of the
   * oldest, in seconds (0 when none). For a gauge ("audit sequencing lag").
   */
  sequencingLag(): Promise<{ pendingEntries: number; oldestPendingSeconds: number }> {
    return sequencingLag(this.db);
  }

  /** Every audit entry about the given subjects, in log order (the supervisor console's histories). */
  async historyOf(subjectType: string, subjectIds: readonly string[]) {
    const rows = await auditEntriesForSubjects(this.db, subjectType, subjectIds);
    return rows.map((r) => ({
      subjectId: r.subjectId,
      seq: r.seq,
      at: r.at,
      action: r.action,
      actorRole: r.actorRole,
    }));
  }

  async search(search: AuditSearch) {
    // A supervisor sees the changes just made: integrate what has committed first.
    await this.#syncToRead();
    const { rows, total } = await searchAuditLog(this.db, {
      subject: search.subject,
      subjectType: search.subjectType,
      action: search.action,
      since: search.since,
      limit: search.pageSize,
      offset: (search.page - 1) * search.pageSize,
    });
    return {
      items: rows.map((row) => ({
        ...(row.seq === null || row.leafHash === null
          ? { ...pendingEntry(row), index: null, seq: null, leafHash: null }
          : integratedEntry(row as IntegratedRow)),
        change: row.change ?? null,
        // The leaf commits to the digest, not to the change: a change rewritten under the
        // database (its digest left alone) is shown for what it is (outside probe).
        changeMatchesDigest: changeDigest(canonicalJson(row.change ?? null)) === row.changeDigest,
      })),
      page: search.page,
      pageSize: search.pageSize,
      total,
    };
  }

  /** The current tree head, signed with the platform key. */
  async checkpoint(): Promise<Checkpoint> {
    await this.sync();
    const { size, root } = await this.#head.advance();
    return signCheckpoint(this.platformSeed, size, root, this.clock.now());
  }

  /**
   * The checkpoint as a C2SP signed note (tlog-checkpoint), signed by the platform key, with the
   * witnesses' cosignatures it got appended as further signature lines (tlog-cosignature). With a
   * quorum, the latest witnessed checkpoint; otherwise (or before anything was witnessed) the latest.
   */
  async checkpointNote(): Promise<string> {
    if (this.witnessing) {
      const ids = this.witnessing.witnessIds;
      const witnessed =
        this.witnessing.quorum > 0
          ? await latestWitnessedSize(this.db, ids, this.witnessing.quorum)
          : undefined;
      const checkpoint =
        witnessed === undefined
          ? await latestCheckpoint(this.db)
          : await checkpointOfSize(this.db, witnessed);
      if (checkpoint) {
        const cosignatures = await cosignaturesOf(this.db, checkpoint.treeSize, ids);
        return checkpoint.note + cosignatures.map((c) => c.signatureLine).join('');
      }
      // Nothing stored yet (the read above found none): on to signing the first checkpoint.
    } else {
      const latest = await latestCheckpoint(this.db);
      if (latest) return latest.note;
    }
    // Nothing signed yet (a new log, or one from before checkpoints were stored).
    await this.sync();
    const stored = await latestCheckpoint(this.db);
    if (stored) return stored.note;
    const { size, root } = await this.#head.advance();
    return signCheckpointNote(this.platformSeed, this.origin, size, root);
  }

  /**
   * Checks at start that KEYS_DIR's platform key signed this database's log. A seed lost and
   * generated anew, or taken from another deployment, would go on signing checkpoints that no
   * witness or monitor holding the log's key accepts: the log's identity would change unnoticed.
   * A log with nothing signed yet passes.
   */
  async assertSignsItsLog(): Promise<void> {
    const latest = await latestCheckpoint(this.db);
    if (!latest || isSignedWithSeed(latest.note, this.platformSeed)) return;
    throw new KeyCustodyError(
      `the platform-signing-seed in KEYS_DIR did not sign this database's transparency log (checkpoint of size ${latest.treeSize}): restore the seed it was signed with (KEYS_DIR of another deployment, or a seed generated anew?)`,
    );
  }

  /**
   * The origin of the latest stored checkpoint when it is not this instance's: instances of one
   * database with different origins (LOG_ORIGIN or PUBLIC_BASE_URL set differently) sign
   * checkpoints no witness can follow as one log. Undefined when they agree or nothing is signed.
   */
  async foreignOrigin(): Promise<string | undefined> {
    const latest = await latestCheckpoint(this.db);
    const origin = latest?.note.slice(0, latest.note.indexOf('\n'));
    return origin !== undefined && origin !== this.origin ? origin : undefined;
  }

  /** The note verifier key of the log's checkpoints: `<origin>+<key ID>+<base64(0x01 ‖ key)>`. */
  verifierKey(): string {
    // Origin and key are fixed for the life of the service: derived once.
    this.#verifierKey ??= logVerifierKey(this.origin, this.platformSeed);
    return this.#verifierKey;
  }
  #verifierKey: string | undefined;

  /** The size of the latest published checkpoint: the tree tiles are served for. */
  async publishedSize(): Promise<number> {
    return (await latestCheckpoint(this.db))?.treeSize ?? 0;
  }

  /**
   * A tile of the published tree (tlog-tiles): `width` hashes of level `level`, each the root of
   * 256^level leaves. Undefined when the tile is not (yet) part of the published tree.
   */
  async tile(address: TileAddress & { level: number }): Promise<Uint8Array | undefined> {
    return this.#immutable(`${address.level}/${address.index}`, address, () =>
      this.#readTile(address),
    );
  }

  /** A full tile never changes once published: read once, then served from memory. */
  async #immutable(
    key: string,
    address: TileAddress,
    read: () => Promise<Uint8Array | undefined>,
  ): Promise<Uint8Array | undefined> {
    const full = address.width === TILE_WIDTH;
    const cached = full ? this.#fullTiles.get(key) : undefined;
    if (cached) return cached;
    const bytes = await read();
    if (bytes && full) this.#fullTiles.set(key, bytes);
    return bytes;
  }

  async #readTile(address: TileAddress & { level: number }): Promise<Uint8Array | undefined> {
    if (!tileExists(address, await this.publishedSize())) return undefined;
    const span = leavesPerHash(address.level);
    const first = address.index * TILE_WIDTH;
    const out = new Uint8Array(address.width * HASH_LENGTH);
    if (address.level === 0) {
      const leaves = await leafHashesByIndex(this.db, first, first + address.width);
      if (leaves.length !== address.width) return undefined;
      leaves.forEach((leaf, i) => out.set(leaf, i * HASH_LENGTH));
      return out;
    }
    await this.#head.advance();
    if (address.level === 1) {
      // 256 subtrees of 256 leaves: one read of their leaves, not 256.
      const start = first * span;
      const leaves = await leafHashesByIndex(this.db, start, start + address.width * span);
      if (leaves.length !== address.width * span) return undefined;
      for (let i = 0; i < address.width; i++) {
        out.set(rootHash(leaves.slice(i * span, (i + 1) * span)), i * HASH_LENGTH);
      }
      return out;
    }
    // 65,536 leaves or more under each hash: aligned ranges the tree head builds from its cache.
    for (let i = 0; i < address.width; i++) {
      const start = (first + i) * span;
      out.set(await this.#head.rangeRoot(start, start + span), i * HASH_LENGTH);
    }
    return out;
  }

  /**
   * An entry bundle of the published tree (tlog-tiles "Log entries"): each entry's leaf data
   * (the bytes whose RFC 6962 leaf hash is in the level-0 tile) after its big-endian uint16 length.
   */
  async entryBundle(address: TileAddress): Promise<Uint8Array | undefined> {
    return this.#immutable(`entries/${address.index}`, address, () =>
      this.#readEntryBundle(address),
    );
  }

  async #readEntryBundle(address: TileAddress): Promise<Uint8Array | undefined> {
    if (!tileExists(address, await this.publishedSize())) return undefined;
    const first = address.index * TILE_WIDTH;
    const rows = await auditEntriesByIndex(this.db, first, first + address.width);
    if (rows.length !== address.width) return undefined;
    const entries = rows.map((row) => auditLeafData(row));
    const out = new Uint8Array(entries.reduce((n, e) => n + 2 + e.length, 0));
    let offset = 0;
    for (const entry of entries) {
      if (entry.length > 0xffff) throw new RangeError('an audit entry is over 65,535 bytes');
      out[offset] = entry.length >> 8;
      out[offset + 1] = entry.length & 0xff;
      out.set(entry, offset + 2);
      offset += 2 + entry.length;
    }
    return out;
  }

  /** The audit path of leaf `index` in the tree of `size` leaves, with that tree's root. */
  async inclusionProof(index: number, size: number) {
    await this.requireTreeSize(size, 'size');
    if (index >= size) {
      throw new AppError('invalid_tree_size', `index must be below size (${size})`);
    }
    await this.#head.advance();
    const proof = await this.#head.rangeRoots(inclusionProofRanges(index, size));
    const root = await this.#head.rangeRoot(0, size);
    const [leaf] = await leafHashesByIndex(this.db, index, index + 1);
    return {
      index,
      treeSize: size,
      leafHash: toBase64(leaf!),
      rootHash: toBase64(root),
      proof: proof.map(toBase64),
    };
  }

  /** The proof that the tree of `from` leaves is a prefix of the tree of `to` leaves, with both roots. */
  async consistencyProof(from: number, to: number) {
    await this.requireTreeSize(to, 'to');
    if (from < 1 || from > to) {
      throw new AppError('invalid_tree_size', `from must be in [1, ${to}]`);
    }
    await this.#head.advance();
    const proof = await this.#head.rangeRoots(consistencyProofRanges(from, to));
    const fromRoot = await this.#head.rangeRoot(0, from);
    const toRoot = await this.#head.rangeRoot(0, to);
    return {
      from,
      to,
      fromRoot: toBase64(fromRoot),
      toRoot: toBase64(toRoot),
      proof: proof.map(toBase64),
    };
  }

  /** Entries with leaf index in [start, end), at most {@link MAX_ENTRIES_PAGE}; fewer at the end of the log. */
  async entries(start: number, end: number) {
    if (end <= start) throw new AppError('invalid_tree_size', 'end must be greater than start');
    if (end - start > MAX_ENTRIES_PAGE) {
      throw new AppError('invalid_tree_size', `at most ${MAX_ENTRIES_PAGE} entries per page`);
    }
    await this.#syncToRead();
    const treeSize = await auditLogSize(this.db);
    const rows = await auditEntriesByIndex(this.db, start, Math.min(end, treeSize));
    return { start, end: start + rows.length, treeSize, entries: rows.map(transparencyEntry) };
  }

  private async requireTreeSize(size: number, field: string): Promise<void> {
    await this.#syncToRead();
    const current = await auditLogSize(this.db);
    if (size < 1 || size > current) {
      throw new AppError(
        'invalid_tree_size',
        `${field} must be in [1, ${current}], the log's current size`,
      );
    }
  }
}
