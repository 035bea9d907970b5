import { ReadRouter, type ReadConsistency } from '../db/read-replica';
import { createHash, randomInt } from 'node:crypto';
import type { Database, Queryable } from '../db/client';
import type { CertificateStatus } from '../db/schema/certificates';
import type { StatusPurpose } from '../db/schema/status-lists';
import type { Clock } from '../clock';
import {
  emptyBitstring,
  MIN_STATUS_LIST_LENGTH,
  setStatusBit,
} from '../crypto/bitstring-status-list';
import { signCredentialJws } from '../crypto/credential-jws';
import { contextUrl, VC_V2_CONTEXT } from '../credentials/context';
import { AppError, notFound } from '../errors';
import { findSigningKeys } from '../issuers/issuers.queries';
import type { SigningKeyRow } from '../db/schema/signing-keys';
import { issuerUrl } from '../crypto/issuer-identifier';
import type { KeyVault } from '../issuers/key-vault';
import { encodeStatusList } from './encoded-list';
import * as q from './status-lists.queries';

/** Entries of a certificate list: the spec's minimum, 16 KiB of bits. */
export const CERTIFICATE_LIST_LENGTH = MIN_STATUS_LIST_LENGTH;
/**
 * Indexes handed out per certificate list before a new one is opened: three quarters, so a random
 * index is found in a few tries and every list keeps a crowd to hide in.
 */
export const CERTIFICATE_LIST_CAPACITY = (CERTIFICATE_LIST_LENGTH * 3) / 4;

export interface StatusListTiming {
  /** `credentialSubject.ttl` and `Cache-Control: max-age`: how long a copy may be used unasked. */
  readonly ttlMs: number;
  /** validUntil − validFrom of a signed list: how long a list copy is evidence at all. */
  readonly validityMs: number;
  /** A list is signed again this often even when no bit changed, so validUntil keeps ahead. */
  readonly resignEveryMs: number;
}

/** See docs/decisions.md "Status lists". */
export const DEFAULT_STATUS_LIST_TIMING: StatusListTiming = Object.freeze({
  ttlMs: 60_000,
  validityMs: 24 * 3_600_000,
  resignEveryMs: 3_600_000,
});

/** A signed list as served: the `vc+jwt`, its entity tag, and how long it may be cached. */
export interface PublishedList {
  jwt: string;
  etag: string;
  maxAgeSeconds: number;
  validFrom: Date;
  validUntil: Date;
}

/** A certificate's `credentialStatus`: one BitstringStatusListEntry per purpose. */
export interface StatusEntryJson {
  id: string;
  type: 'BitstringStatusListEntry';
  statusPurpose: StatusPurpose;
  statusListIndex: string;
  statusListCredential: string;
}

const CACHE_LIMIT = 1_024;

/**
 * W3C Bitstring Status Lists (v1.0) for certificates and mark batches: handing out random,
 * never-reused indexes, setting bits inside the transaction of each status change, and publishing
 * each list as a `BitstringStatusListCredential` signed (`vc+jwt`) by its issuer's current key.
 *
 * A read compares the list's version (one indexed lookup) with its signed copy in memory and signs
 * only when a bit changed, the hourly re-signing is due or the issuer's key changed: a status change
 * is in the list the first read after its transaction commits, and reads cost no signature. The
 * signing time is derived from the list (the hour, or the change within it), so every instance
 * signs byte-identical lists and their ETags agree.
 */
export class StatusListsService {
  private readonly signed = new Map<string, PublishedList>();
  private readonly signing = new Map<string, Promise<PublishedList>>();
  /** Lists signed by this process (tests and metrics: reads must not sign). */
  signatures = 0;

  constructor(
    private readonly db: Database,
    private readonly vault: KeyVault,
    private readonly clock: Clock,
    private readonly baseUrl: string,
    readonly timing: StatusListTiming = DEFAULT_STATUS_LIST_TIMING,
    /** Public reads may go to a replica within its staleness bound (src/db/read-replica.ts). */
    private readonly reads: ReadRouter = new ReadRouter({ primary: db }),
  ) {}

  listUrl(id: string): string {
    return `${this.baseUrl}/v1/status-lists/${id}`;
  }

  // -------------------------------------------------------------------------------------------
  // Writing: inside the callers' transactions
  // -------------------------------------------------------------------------------------------

  /**
   * Chooses a new certificate's entries: a random index never handed out before (§2.1: "assign
   * indexes randomly") in a revocation and in a suspension list of its issuer, opening a new list
   * when the issuer's lists are full. The lists stay locked until the transaction ends, so the
   * indexes are the caller's to record (`recordCertificateEntries`) once the certificate exists.
   * Both bits are clear: an index is never reused, so nothing was ever set there.
   */
  async chooseCertificateEntries(
    tx: Queryable,
    params: { issuerId: string; at: Date },
  ): Promise<q.CertificateEntry[]> {
    return (await this.chooseEntriesForCertificates(tx, { ...params, count: 1 }))[0]!;
  }

  /**
   * The entries of `count` new certificates at once (an import's chunk): for each purpose, the
   * issuer's open lists in order, each giving what its capacity has left, then new lists; indexes
   * random and never handed out, as for one certificate. Element i is certificate i's pair.
   */
  async chooseEntriesForCertificates(
    tx: Queryable,
    params: { issuerId: string; at: Date; count: number },
  ): Promise<q.CertificateEntry[][]> {
    const pairs: q.CertificateEntry[][] = Array.from({ length: params.count }, () => []);
    for (const purpose of ['revocation', 'suspension'] as const) {
      let given = 0;
      const open = await q.lockOpenCertificateLists(tx, {
        issuerId: params.issuerId,
        purpose,
        capacity: CERTIFICATE_LIST_CAPACITY,
      });
      while (given < params.count) {
        const list =
          open.shift() ??
          (await q.insertStatusList(tx, {
            issuerId: params.issuerId,
            purpose,
            batchId: null,
            length: CERTIFICATE_LIST_LENGTH,
            at: params.at,
          }))!;
        const room = CERTIFICATE_LIST_CAPACITY - list.allocated;
        const indexes = await this.freeIndexes(tx, list, Math.min(room, params.count - given));
        for (const index of indexes) pairs[given++]!.push({ listId: list.id, purpose, index });
      }
    }
    return pairs;
  }

  /** Records the entries `chooseCertificateEntries` chose, for the certificate now written. */
  async recordCertificateEntries(
    tx: Queryable,
    certificateId: string,
    entries: readonly q.CertificateEntry[],
  ): Promise<void> {
    await this.recordEntriesOfCertificates(tx, [{ certificateId, entries }]);
  }

  /**
   * Records the entries chosen for certificates now written (one multi-row insert) and counts
   * them as handed out by their lists. Entries chosen for a certificate that was not written in
   * the end are simply not recorded: their indexes stay free.
   */
  async recordEntriesOfCertificates(
    tx: Queryable,
    certificates: readonly { certificateId: string; entries: readonly q.CertificateEntry[] }[],
  ): Promise<void> {
    await q.insertEntries(
      tx,
      certificates.flatMap(({ certificateId, entries }) =>
        entries.map((e) => ({ listId: e.listId, index: e.index, certificateId })),
      ),
    );
  }

  /** A certificate's `credentialStatus`: its entries as BitstringStatusListEntry objects. */
  entriesJson(entries: readonly q.CertificateEntry[]): StatusEntryJson[] {
    return entries.map((e) => this.entryJson(e));
  }

  /**
   * The recorded entries of each of many certificates, in one read (a page signed again); a
   * credential of a format before status lists has none.
   */
  certificateEntriesOf(
    db: Queryable,
    certificateIds: readonly string[],
  ): Promise<Map<string, q.CertificateEntry[]>> {
    return q.entriesOfCertificates(db, certificateIds);
  }

  /**
   * A certificate's status changed (or is recorded for the first time): its revocation bit says
   * revoked or withdrawn (final), its suspension bit says suspended — by itself or because its
   * issuer is suspended, so that an issuer's suspension is visible offline.
   */
  async recordCertificateStatus(
    tx: Queryable,
    params: {
      certificateId: string;
      status: CertificateStatus;
      issuerSuspended: boolean;
      at: Date;
    },
  ): Promise<void> {
    await q.setCertificateBits(tx, {
      certificateId: params.certificateId,
      revoked: params.status === 'revoked' || params.status === 'withdrawn',
      suspended: params.status === 'suspended' || params.issuerSuspended,
      at: params.at,
    });
  }

  /**
   * An issuer was suspended or reinstated: each of its suspension lists is rewritten so that every
   * certificate's bit says "suspended" while the issuer is, and afterwards says the certificate's
   * own suspension again.
   */
  async recordIssuerStatus(
    tx: Queryable,
    params: { issuerId: string; suspended: boolean; at: Date },
  ): Promise<void> {
    for (const list of await q.lockSuspensionLists(tx, params.issuerId)) {
      const bits = emptyBitstring(list.bits.length * 8);
      for (const entry of await q.entriesWithStatus(tx, list.id)) {
        if (params.suspended || entry.status === 'suspended') setStatusBit(bits, entry.index, true);
      }
      if (Buffer.compare(Buffer.from(bits), Buffer.from(list.bits)) !== 0)
        await q.replaceBits(tx, { listId: list.id, bits, at: params.at });
    }
  }

  /**
   * A mark batch's list: one bit per mark by its position in the batch (set: void), at least
   * 131,072 entries whatever the batch's size. `voided` are the positions already void (a batch
   * issued before status lists). Returns the list's id, or undefined when the batch has one.
   */
  async createBatchList(
    tx: Queryable,
    params: { batchId: string; issuerId: string; count: number; at: Date; voided?: number[] },
  ): Promise<string | undefined> {
    const length = Math.max(MIN_STATUS_LIST_LENGTH, Math.ceil(params.count / 8) * 8);
    const bits = emptyBitstring(length);
    for (const position of params.voided ?? []) setStatusBit(bits, position, true);
    const list = await q.insertStatusList(tx, {
      issuerId: params.issuerId,
      purpose: 'revocation',
      batchId: params.batchId,
      length,
      bits,
      at: params.at,
    });
    return list?.id;
  }

  /**
   * A mark was voided: its bit (by its position in the batch) is set in its batch's list. False
   * when the batch has no list yet (issued before status lists, not yet given one at start).
   */
  async recordMarkVoid(
    tx: Queryable,
    params: { batchId: string; position: number; at: Date },
  ): Promise<boolean> {
    if ((await q.setBatchBit(tx, { ...params, value: true })) > 0) return true;
    return (await q.findBatchList(tx, params.batchId)) !== undefined;
  }

  /**
   * A batch's marks are all active again (an older unfinished batch numbered at the upgrade to
   * positional serials: the marks its fill had written, voided ones too, are gone), so no bit of
   * its list may say void.
   */
  async clearBatchList(tx: Queryable, params: { batchId: string; at: Date }): Promise<void> {
    await q.clearBatchBits(tx, params);
  }

  /** Batches issued before status lists, a page at a time (start-up backfill). */
  batchesWithoutList(limit: number) {
    return q.batchesWithoutList(this.db, limit);
  }

  // -------------------------------------------------------------------------------------------
  // Reading
  // -------------------------------------------------------------------------------------------

  /** The list as published now: signed again only when needed (see the class comment). */
  async published(id: string, consistency: ReadConsistency = 'fresh'): Promise<PublishedList> {
    return this.reads.read(consistency, (db) => this.publishedFrom(db, id));
  }

  /**
   * Lists as published now, as {@link published} gives each, in one read of their heads (and, for
   * those not signed yet, one of their bits and one of their keys) however many are asked for: an
   * offline bundle carries every list of the registry. A list whose issuer has no current signing
   * key cannot be served signed and is left out of the answer.
   */
  async publishedLists(
    ids: readonly string[],
    consistency: ReadConsistency = 'fresh',
  ): Promise<Map<string, PublishedList>> {
    return this.reads.read(consistency, async (db) => {
      const heads = (await q.findListHeads(db, ids)).filter((head) => head.kid !== null);
      const lists = await this.publish(db, heads);
      return new Map(heads.map((head, i) => [head.id, lists[i]!]));
    });
  }

  private async publishedFrom(db: Database, id: string): Promise<PublishedList> {
    const head = await q.findListHead(db, id);
    if (!head) throw notFound('status list');
    if (!head.kid)
      throw new AppError('no_signing_key', 'the list’s issuer has no current signing key');
    const [list] = await this.publish(db, [head]);
    return list!;
  }

  /**
   * Each head's list (every head has a `kid`): its signed copy when current, else signed now, the
   * lists to sign read together. A list being signed for another request is awaited, not signed
   * twice.
   */
  private async publish(db: Queryable, heads: readonly q.ListHead[]): Promise<PublishedList[]> {
    const now = this.clock.now().getTime();
    const hour = Math.floor(now / this.timing.resignEveryMs) * this.timing.resignEveryMs;
    const wanted = heads.map((head) => {
      // The content is as of its last change: a list signed within the hour of a change says so.
      const validFrom = Math.max(hour, Math.floor(head.changedAt.getTime() / 1000) * 1000);
      return { head, validFrom, cacheKey: `${head.id}|${head.version}|${validFrom}|${head.kid}` };
    });
    // Decided with no wait in between, so a list is signed once however many ask at a time.
    const toSign = wanted.filter(
      (w) => !this.signed.has(w.cacheKey) && !this.signing.has(w.cacheKey),
    );
    if (toSign.length > 0) {
      const material = this.signingMaterial(
        db,
        toSign.map((w) => w.head),
      );
      for (const w of toSign)
        this.signing.set(
          w.cacheKey,
          material
            .then((m) => this.sign(w.head, new Date(w.validFrom), m))
            .finally(() => this.signing.delete(w.cacheKey)),
        );
    }
    const pending = wanted.map((w) => this.signed.get(w.cacheKey) ?? this.signing.get(w.cacheKey)!);
    const lists = await Promise.all(pending);
    wanted.forEach((w, i) => {
      if (this.signed.has(w.cacheKey)) return;
      if (this.signed.size >= CACHE_LIMIT) this.signed.delete(this.signed.keys().next().value!);
      this.signed.set(w.cacheKey, lists[i]!);
    });
    return lists;
  }

  /** The bits and signing keys of the lists to sign: one read of each. */
  private async signingMaterial(db: Queryable, heads: readonly q.ListHead[]) {
    const bits = await q.listBitsOf(
      db,
      heads.map((h) => h.id),
    );
    const keys = await findSigningKeys(db, [...new Set(heads.map((h) => h.kid!))]);
    return {
      bits: new Map(bits.map((row) => [row.id, row.bits])),
      keys: new Map(keys.map((key) => [key.kid, key])),
    };
  }

  /** The id of a mark batch's list. */
  async batchListId(batchId: string): Promise<string | undefined> {
    return (await q.findBatchList(this.db, batchId))?.id;
  }

  // -------------------------------------------------------------------------------------------

  private async sign(
    head: q.ListHead,
    validFrom: Date,
    material: { bits: Map<string, Uint8Array>; keys: Map<string, SigningKeyRow> },
  ): Promise<PublishedList> {
    const bits = material.bits.get(head.id);
    if (!bits) throw notFound('status list');
    const key = material.keys.get(head.kid!);
    if (!key) throw notFound('signing key');
    const signer = this.vault.signerFromRow(key);
    const validUntil = new Date(validFrom.getTime() + this.timing.validityMs);
    const url = this.listUrl(head.id);
    const issuer = issuerUrl(this.baseUrl, head.issuerId);
    const jwt = await signCredentialJws(
      {
        '@context': [VC_V2_CONTEXT, contextUrl(this.baseUrl)],
        id: url,
        type: ['VerifiableCredential', 'BitstringStatusListCredential'],
        issuer,
        validFrom: validFrom.toISOString(),
        validUntil: validUntil.toISOString(),
        credentialSubject: {
          id: `${url}#list`,
          type: 'BitstringStatusList',
          statusPurpose: head.purpose,
          encodedList: encodeStatusList(bits),
          ttl: this.timing.ttlMs,
        },
        // VC-JOSE-COSE: the signature's times; a list is evidence only until its validUntil.
        iss: issuer,
        jti: url,
        iat: Math.floor(validFrom.getTime() / 1000),
        exp: Math.floor(validUntil.getTime() / 1000),
      },
      signer,
    );
    this.signatures += 1;
    return {
      jwt,
      etag: `"${createHash('sha256').update(jwt).digest('base64url').slice(0, 27)}"`,
      maxAgeSeconds: Math.floor(this.timing.ttlMs / 1000),
      validFrom,
      validUntil,
    };
  }

  private entryJson(entry: q.CertificateEntry): StatusEntryJson {
    const list = this.listUrl(entry.listId);
    return {
      id: `${list}#${entry.index}`,
      type: 'BitstringStatusListEntry',
      statusPurpose: entry.purpose,
      statusListIndex: String(entry.index),
      statusListCredential: list,
    };
  }

  /** `count` distinct random indexes of a locked list that it never handed out. */
  private async freeIndexes(
    tx: Queryable,
    list: { id: string; length: number },
    count: number,
  ): Promise<number[]> {
    // At most three quarters are taken, so twice as many candidates (and 32 more) as are wanted
    // almost always leave enough free ones: a single certificate's 32 all taken has odds below 1
    // in 10,000; a chunk of a thousand needs a second round about as rarely.
    const chosen = new Set<number>();
    while (chosen.size < count) {
      const wanted = count - chosen.size;
      const candidates = new Set<number>();
      while (candidates.size < wanted * 2 + 32) {
        const index = randomInt(list.length);
        if (!chosen.has(index)) candidates.add(index);
      }
      const taken = await q.takenIndexes(tx, { listId: list.id, candidates: [...candidates] });
      for (const index of candidates) {
        if (chosen.size === count) break;
        if (!taken.has(index)) chosen.add(index);
      }
    }
    return [...chosen];
  }
}
