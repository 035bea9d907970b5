import type { PublishedEntry } from './audit-verifier';
import type { Clock } from '../clock';
import type { Database } from '../db/client';
import type { AuditLogRow } from '../db/schema/audit-log';
import { AppError } from '../errors';
import { signCheckpoint, type Checkpoint } from './checkpoint';
import { logVerifierKey, signCheckpointNote } from './checkpoint-note';
import {
  auditEntriesByIndex,
  auditLogSize,
  leafHashesByIndex,
  searchAuditLog,
} from './audit-log.queries';
import { consistencyProofRanges, inclusionProofRanges } from '../crypto/merkle';
import { TreeHead } from './tree-head';

/** Largest page of /v1/transparency/entries: about 4 MB of JSON. */
export const MAX_ENTRIES_PAGE = 10_000;

const b64 = (bytes: Uint8Array) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');

/**
 * An entry as the public sees it: exactly the fields its Merkle leaf commits to and the leaf
 * (the shape the verifier reads), with its index in the tree.
 */
export interface TransparencyEntry extends PublishedEntry {
  index: number;
}

export function transparencyEntry(row: AuditLogRow): TransparencyEntry {
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
    leafHash: b64(row.leafHash),
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
export class AuditService {
  readonly #head: TreeHead;

  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
    private readonly platformSeed: Uint8Array,
    /** The checkpoint origin line and note key name (config.logOrigin). */
    readonly origin: string,
  ) {
    // One tree head per instance: it signs checkpoints, and a row rewritten under it (by someone
    // with database superuser rights) cannot change a root it has already signed.
    this.#head = new TreeHead((from, to) => leafHashesByIndex(db, from, to));
  }

  async search(search: AuditSearch) {
    const { rows, total } = await searchAuditLog(this.db, {
      subject: search.subject,
      subjectType: search.subjectType,
      action: search.action,
      since: search.since,
      limit: search.pageSize,
      offset: (search.page - 1) * search.pageSize,
    });
    return {
      items: rows.map((row) => ({ ...transparencyEntry(row), change: row.change ?? null })),
      page: search.page,
      pageSize: search.pageSize,
      total,
    };
  }

  /** The current tree head, signed with the platform key. */
  async checkpoint(): Promise<Checkpoint> {
    const { size, root } = await this.#head.advance();
    return signCheckpoint(this.platformSeed, size, root, this.clock.now());
  }

  /** The current checkpoint as a C2SP signed note (tlog-checkpoint), signed by the platform key. */
  async checkpointNote(): Promise<string> {
    const { size, root } = await this.#head.advance();
    return signCheckpointNote(this.platformSeed, this.origin, size, root);
  }

  /** The note verifier key of the log's checkpoints: `<origin>+<key ID>+<base64(0x01 ‖ key)>`. */
  verifierKey(): string {
    return logVerifierKey(this.origin, this.platformSeed);
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
      leafHash: b64(leaf!),
      rootHash: b64(root),
      proof: proof.map(b64),
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
    return { from, to, fromRoot: b64(fromRoot), toRoot: b64(toRoot), proof: proof.map(b64) };
  }

  /** Entries with leaf index in [start, end), at most {@link MAX_ENTRIES_PAGE}; fewer at the end of the log. */
  async entries(start: number, end: number) {
    if (end <= start) throw new AppError('invalid_tree_size', 'end must be greater than start');
    if (end - start > MAX_ENTRIES_PAGE) {
      throw new AppError('invalid_tree_size', `at most ${MAX_ENTRIES_PAGE} entries per page`);
    }
    const treeSize = await auditLogSize(this.db);
    const rows = await auditEntriesByIndex(this.db, start, Math.min(end, treeSize));
    return { start, end: start + rows.length, treeSize, entries: rows.map(transparencyEntry) };
  }

  private async requireTreeSize(size: number, field: string): Promise<void> {
    const current = await auditLogSize(this.db);
    if (size < 1 || size > current) {
      throw new AppError(
        'invalid_tree_size',
        `${field} must be in [1, ${current}], the log's current size`,
      );
    }
  }
}
