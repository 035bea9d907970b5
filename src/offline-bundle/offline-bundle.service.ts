import type { Clock } from '../clock';
import type { Database } from '../db/client';
import { decodeEncodedList, getStatusBit } from '../crypto/bitstring-status-list';
import { signJws } from '../crypto/credential-jws';
import {
  OFFLINE_BUNDLE_FORMAT,
  OFFLINE_BUNDLE_TYP,
  voidedMarkDigest,
  type OfflineBundlePayload,
  type VoidedMark,
} from '../crypto/offline-bundle';
import type { IssuersService, PublicJwk } from '../issuers/issuers.service';
import type { PublishedList, StatusListsService } from '../status-lists/status-lists.service';
import * as q from './offline-bundle.queries';

/**
 * How long a bundle's status information may be relied on: a day, as the status lists' own
 * validity (a list signed at the start of an hour is valid 24 h), and never past the earliest
 * list's `validUntil`. An inspector syncs once a day; past that, an offline answer says "status
 * unknown" rather than a day-old "valid".
 */
export const BUNDLE_FRESHNESS_MS = 24 * 3_600_000;

export interface OfflineBundleDeps {
  db: Database;
  clock: Clock;
  baseUrl: string;
  issuers: IssuersService;
  statusLists: StatusListsService;
  /** The transparency log's key as the JWKS publishes it, and its seed: it signs bundles. */
  logKey: { jwk: PublicJwk; seed: Uint8Array };
  /** The latest checkpoint of the transparency log, as the log serves it. */
  latestCheckpoint: () => Promise<string>;
}

export interface SignedBundle {
  jws: string;
  /** Issuer keys in it (the transparency log's not counted). */
  keyCount: number;
  createdAt: Date;
  freshUntil: Date;
}

/**
 * The offline bundle (SPEC "Offline bundle"): keys, every status list as served, where voided marks
 * sit in their batches' lists, the latest log checkpoint, when it was made and its freshness limit,
 * in one compact JWS signed by the transparency log's key (the format: src/crypto/offline-bundle).
 */
export class OfflineBundleService {
  constructor(private readonly deps: OfflineBundleDeps) {}

  /** A bundle for every issuer, or for the given issuers only (an unknown one is a 404). */
  async bundle(issuerIds?: readonly string[]): Promise<SignedBundle> {
    const { issuers, statusLists, logKey } = this.deps;
    const chosen = issuerIds === undefined ? null : [...new Set(issuerIds)];
    const jwks =
      chosen === null
        ? await issuers.jwks([logKey.jwk])
        : { keys: [...(await issuers.issuersJwks(chosen)).keys, logKey.jwk] };
    const createdAt = this.deps.clock.now();
    let freshUntil = createdAt.getTime() + BUNDLE_FRESHNESS_MS;
    // One read of each kind, whatever the number of lists: the lists, their heads (and what signing
    // those not signed yet needs), then the voided marks of every batch.
    const rows = await q.listStatusLists(this.deps.db, { issuerIds: chosen });
    const published = await statusLists.publishedLists(rows.map((row) => row.id));
    const lists: string[] = [];
    const batches: { batchId: string; listUrl: string; positions: number[] }[] = [];
    for (const row of rows) {
      // A list whose issuer has no current key to sign it is left out.
      const list = published.get(row.id);
      if (!list) continue;
      lists.push(list.jwt);
      freshUntil = Math.min(freshUntil, list.validUntil.getTime());
      if (row.batchId)
        batches.push({
          batchId: row.batchId,
          listUrl: statusLists.listUrl(row.id),
          positions: voidPositions(list),
        });
    }
    const voidedMarks = await this.voidedMarks(batches);
    const suspendedIssuers = await q.suspendedIssuers(this.deps.db, { issuerIds: chosen });
    const payload: OfflineBundlePayload = {
      type: OFFLINE_BUNDLE_FORMAT,
      iss: this.deps.baseUrl,
      iat: Math.floor(createdAt.getTime() / 1000),
      createdAt: createdAt.toISOString(),
      freshUntil: new Date(freshUntil).toISOString(),
      issuers: chosen,
      jwks,
      statusLists: lists,
      voidedMarks,
      suspendedIssuers,
      logCheckpoint: await this.deps.latestCheckpoint(),
    };
    const jws = await signJws({ ...payload }, OFFLINE_BUNDLE_TYP, {
      kid: logKey.jwk.kid,
      seed: logKey.seed,
    });
    return { jws, keyCount: jwks.keys.length - 1, createdAt, freshUntil: new Date(freshUntil) };
  }

  /**
   * The voided marks of the batches, in the bundle's list order and each batch's position order:
   * set positions (read from the very list the bundle carries, so the bundle never says void where
   * the signed bit does not) → serials, every batch in one read.
   */
  private async voidedMarks(
    batches: readonly { batchId: string; listUrl: string; positions: number[] }[],
  ): Promise<VoidedMark[]> {
    const byBatch = new Map<string, VoidedMark[]>();
    const listOf = new Map(batches.map((b) => [b.batchId, b.listUrl]));
    // In position order within a batch (the query's order).
    for (const m of await q.serialsAtPositions(this.deps.db, { batches })) {
      let voided = byBatch.get(m.batchId);
      if (!voided) byBatch.set(m.batchId, (voided = []));
      voided.push({
        serialDigest: voidedMarkDigest(m.serial),
        list: listOf.get(m.batchId)!,
        position: m.position,
      });
    }
    return batches.flatMap(({ batchId }) => byBatch.get(batchId) ?? []);
  }
}

/** The positions whose bit is set in a signed list. */
function voidPositions(list: PublishedList): number[] {
  const payload = JSON.parse(
    Buffer.from(list.jwt.split('.')[1]!, 'base64url').toString('utf8'),
  ) as {
    credentialSubject: { encodedList: string };
  };
  const bits = decodeEncodedList(payload.credentialSubject.encodedList);
  const positions: number[] = [];
  for (let byte = 0; byte < bits.length; byte++) {
    if (bits[byte] === 0) continue;
    for (let bit = 0; bit < 8; bit++)
      if (getStatusBit(bits, byte * 8 + bit)) positions.push(byte * 8 + bit);
  }
  return positions;
}
