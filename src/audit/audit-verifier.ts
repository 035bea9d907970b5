import {
  HASH_LENGTH,
  leafHash,
  MerkleAccumulator,
  MerkleProofError,
  verifyConsistency,
} from '../crypto/merkle';
import { auditLeafData } from './audit.queries';
import { verifyCheckpoint, type Checkpoint, type JwksLike } from './checkpoint';
import { decodeCanonicalBase64, toBase64 } from '../crypto/base64';

/**
 * Verifies the published audit log, pure over data fetched from the service (the CLI
 * `certmark audit verify` does the fetching): recomputes every leaf from the entry's fields and
 * compares it with the stored leaf hash, recomputes the Merkle root and compares it with the signed
 * checkpoint, checks the checkpoint's signature with the platform key from the JWKS, and,
 * given a checkpoint saved earlier, that today's log extends the log it signed.
 */

/** An entry as GET /v1/transparency/entries publishes it. */
export interface PublishedEntry {
  seq: number;
  at: string;
  actorKeyId: string | null;
  actorRole: string | null;
  signatory: unknown;
  action: string;
  subjectType: string;
  subjectId: string;
  changeDigest: string;
  /** SHA-256(0x00 || auditLeafData(entry)), base64. */
  leafHash: string;
}

export type AuditProblemCode =
  /** The checkpoint is malformed, signed by a key that is not the platform's, or badly signed. */
  | 'checkpoint_unverified'
  /** The saved checkpoint does not verify. */
  | 'saved_checkpoint_unverified'
  /** An entry is not shaped as published entries are. */
  | 'malformed_entry'
  /** Entries are missing or out of order (seq must be index + 1). */
  | 'sequence_gap'
  /** The leaf recomputed from an entry's fields differs from its stored leaf hash: the entry was edited. */
  | 'leaf_mismatch'
  /** Fewer or more entries than the checkpoint's tree size. */
  | 'size_mismatch'
  /** The root of the recomputed leaves is not the checkpoint's root. */
  | 'root_mismatch'
  /** The log is smaller than a checkpoint it signed before. */
  | 'log_shrunk'
  /** The recomputed log does not extend the saved checkpoint's tree (history rewritten). */
  | 'history_rewritten'
  /** The service's consistency proof does not verify. */
  | 'consistency_proof_invalid';

export interface AuditProblem {
  code: AuditProblemCode;
  message: string;
  seq?: number;
}

export interface AuditVerification {
  ok: boolean;
  treeSize: number;
  /** Root of the recomputed leaves, base64. */
  rootHash: string;
  /** The first entry found edited (its recomputed leaf differs, or it is missing), or null. */
  firstTampered: { seq: number; code: AuditProblemCode } | null;
  problems: AuditProblem[];
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The leaf hash of a published entry, recomputed from its fields (auditLeafData). */
export function recomputeLeafHash(entry: PublishedEntry): Uint8Array {
  return leafHash(
    auditLeafData({
      seq: entry.seq,
      at: new Date(entry.at),
      actorKeyId: entry.actorKeyId,
      actorRole: entry.actorRole,
      signatory: entry.signatory,
      action: entry.action,
      subjectType: entry.subjectType,
      subjectId: entry.subjectId,
      changeDigest: entry.changeDigest,
    }),
  );
}

function isPublishedEntry(e: unknown): e is PublishedEntry {
  const x = e as Partial<PublishedEntry> | null;
  if (
    !x ||
    !Number.isSafeInteger(x.seq) ||
    typeof x.at !== 'string' ||
    (x.actorKeyId !== null && typeof x.actorKeyId !== 'string') ||
    (x.actorRole !== null && typeof x.actorRole !== 'string') ||
    typeof x.action !== 'string' ||
    typeof x.subjectType !== 'string' ||
    typeof x.subjectId !== 'string' ||
    typeof x.changeDigest !== 'string' ||
    typeof x.leafHash !== 'string'
  ) {
    return false;
  }
  // The leaf commits to the instant as toISOString() writes it: any other spelling is not the entry.
  const at = new Date(x.at);
  return !Number.isNaN(at.getTime()) && at.toISOString() === x.at;
}

/**
 * Streaming verifier: `add` the entries in order (page by page, a million entries hold O(log n)
 * memory), then `finish` with the checkpoint.
 *
 * @example
 * const verifier = new AuditLogVerifier({ savedSize: saved?.treeSize });
 * for (const entry of page.entries) verifier.add(entry);
 * const result = verifier.finish({ jwks, checkpoint, saved });
 */
export class AuditLogVerifier {
  readonly #tree = new MerkleAccumulator();
  readonly #problems: AuditProblem[] = [];
  #firstTampered: AuditVerification['firstTampered'] = null;
  #savedRoot: Uint8Array | undefined;
  readonly #savedSize: number | undefined;
  /** Problems beyond this many are counted, not listed. */
  readonly #maxProblems = 100;
  #moreProblems = 0;

  constructor(options: { savedSize?: number | undefined } = {}) {
    this.#savedSize = options.savedSize;
    if (this.#savedSize === 0) this.#savedRoot = this.#tree.root();
  }

  get size(): number {
    return this.#tree.size;
  }

  #report(problem: AuditProblem, tampered = false): void {
    if (tampered && this.#firstTampered === null && problem.seq !== undefined) {
      this.#firstTampered = { seq: problem.seq, code: problem.code };
    }
    if (this.#problems.length < this.#maxProblems) this.#problems.push(problem);
    else this.#moreProblems += 1;
  }

  /** The next entry of the log (leaf index = this.size). */
  add(entry: unknown): void {
    const expectedSeq = this.#tree.size + 1;
    if (!isPublishedEntry(entry)) {
      this.#report(
        { code: 'malformed_entry', message: `entry ${expectedSeq} is malformed`, seq: expectedSeq },
        true,
      );
      this.#tree.append(new Uint8Array(HASH_LENGTH));
      return;
    }
    if (entry.seq !== expectedSeq) {
      this.#report(
        {
          code: 'sequence_gap',
          message: `expected seq ${expectedSeq}, got ${entry.seq}`,
          seq: expectedSeq,
        },
        true,
      );
    }
    const recomputed = recomputeLeafHash(entry);
    // Base64 of 32 bytes has one spelling, so comparing strings compares the hashes.
    if (toBase64(recomputed) !== entry.leafHash) {
      this.#report(
        {
          code: 'leaf_mismatch',
          message: `entry seq ${entry.seq}: the leaf recomputed from its fields differs from its stored leafHash`,
          seq: entry.seq,
        },
        true,
      );
    }
    // The tree is built from recomputed leaves: what the entries say is what the root must commit to.
    this.#tree.append(recomputed);
    if (this.#tree.size === this.#savedSize) this.#savedRoot = this.#tree.root();
  }

  /**
   * Compares the recomputed tree with the checkpoint (and the saved checkpoint, with the service's
   * consistency proof between the two when given).
   */
  finish(input: {
    jwks: JwksLike;
    checkpoint: unknown;
    saved?: unknown;
    consistencyProof?: readonly string[] | undefined;
  }): AuditVerification {
    const root = this.#tree.root();
    const head = verifyCheckpoint(input.checkpoint, input.jwks);
    let checkpoint: Checkpoint | undefined;
    let signedRoot: Uint8Array | undefined;
    if (!head.ok) {
      this.#report({
        code: 'checkpoint_unverified',
        message: `the checkpoint does not verify (${head.problem})`,
      });
    } else {
      checkpoint = head.checkpoint;
      signedRoot = head.root;
      if (checkpoint.treeSize !== this.#tree.size) {
        this.#report(
          {
            code: 'size_mismatch',
            message: `the checkpoint signs ${checkpoint.treeSize} entries, ${this.#tree.size} were published`,
            ...(this.#tree.size < checkpoint.treeSize ? { seq: this.#tree.size + 1 } : {}),
          },
          this.#tree.size < checkpoint.treeSize,
        );
      } else if (!equalBytes(signedRoot, root)) {
        this.#report({
          code: 'root_mismatch',
          message:
            'the root of the recomputed leaves is not the signed root: entries were rewritten with their leaf hashes',
        });
      }
    }

    if (input.saved !== undefined) this.#checkSaved(input, checkpoint, signedRoot);

    const problems = [...this.#problems];
    if (this.#moreProblems) {
      problems.push({
        code: this.#problems.at(-1)!.code,
        message: `… and ${this.#moreProblems} more problems`,
      });
    }
    return {
      ok: problems.length === 0,
      treeSize: this.#tree.size,
      rootHash: toBase64(root),
      firstTampered: this.#firstTampered,
      problems,
    };
  }

  #checkSaved(
    input: { jwks: JwksLike; saved?: unknown; consistencyProof?: readonly string[] | undefined },
    checkpoint: Checkpoint | undefined,
    signedRoot: Uint8Array | undefined,
  ): void {
    const saved = verifyCheckpoint(input.saved, input.jwks);
    if (!saved.ok) {
      this.#report({
        code: 'saved_checkpoint_unverified',
        message: `the saved checkpoint does not verify (${saved.problem})`,
      });
      return;
    }
    const savedSize = saved.checkpoint.treeSize;
    if (savedSize > this.#tree.size) {
      this.#report({
        code: 'log_shrunk',
        message: `the log once had ${savedSize} entries, now ${this.#tree.size}`,
      });
      return;
    }
    if (this.#savedSize !== savedSize || !this.#savedRoot) {
      throw new Error(
        'AuditLogVerifier: construct it with savedSize = the saved checkpoint’s treeSize',
      );
    }
    if (!equalBytes(this.#savedRoot, saved.root)) {
      this.#report({
        code: 'history_rewritten',
        message: `the first ${savedSize} entries no longer have the root the saved checkpoint signed`,
      });
    }
    if (input.consistencyProof && checkpoint && signedRoot && savedSize > 0) {
      const proof = input.consistencyProof.map((h) => decodeCanonicalBase64(h, HASH_LENGTH));
      try {
        if (proof.some((p) => !p))
          throw new MerkleProofError('invalid_hash', 'a proof hash is not 32 bytes of base64');
        verifyConsistency({
          size1: savedSize,
          size2: checkpoint.treeSize,
          root1: saved.root,
          root2: signedRoot,
          proof: proof as Uint8Array[],
        });
      } catch (error) {
        this.#report({
          code: 'consistency_proof_invalid',
          message: `the consistency proof ${savedSize} → ${checkpoint.treeSize} does not verify (${(error as Error).message})`,
        });
      }
    }
  }
}

/** Verifies a whole log held in memory: the entries in order, the checkpoint, and the JWKS. */
export function verifyAuditLog(input: {
  jwks: JwksLike;
  checkpoint: unknown;
  entries: readonly unknown[];
  saved?: Checkpoint | undefined;
  consistencyProof?: readonly string[] | undefined;
}): AuditVerification {
  const verifier = new AuditLogVerifier({ savedSize: input.saved?.treeSize });
  for (const entry of input.entries) verifier.add(entry);
  return verifier.finish(input);
}
