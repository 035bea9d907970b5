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
import { AppError } from '../errors';
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
        : {
            keys: [
              ...(await Promise.all(chosen.map((id) => issuers.issuerJwks(id)))).flatMap(
                (set) => set.keys,
              ),
              logKey.jwk,
            ],
          };
    const createdAt = this.deps.clock.now();
    let freshUntil = createdAt.getTime() + BUNDLE_FRESHNESS_MS;
    const lists: string[] = [];
    const voidedMarks: VoidedMark[] = [];
    for (const row of await q.listStatusLists(this.deps.db, { issuerIds: chosen })) {
      const published = await this.publishedOrSkip(row.id);
      if (!published) continue;
      lists.push(published.jwt);
      freshUntil = Math.min(freshUntil, published.validUntil.getTime());
      if (row.batchId)
        voidedMarks.push(
          ...(await this.voidedMarks(row.batchId, statusLists.listUrl(row.id), published)),
        );
    }
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
      logCheckpoint: await this.deps.latestCheckpoint(),
    };
    const jws = await signJws({ ...payload }, OFFLINE_BUNDLE_TYP, {
      kid: logKey.jwk.kid,
      seed: logKey.seed,
    });
    return { jws, keyCount: jwks.keys.length - 1, createdAt, freshUntil: new Date(freshUntil) };
  }

  /** A list as served; undefined when its issuer has no current key to sign it (left out). */
  private async publishedOrSkip(id: string): Promise<PublishedList | undefined> {
    try {
      return await this.deps.statusLists.published(id);
    } catch (error) {
      if (error instanceof AppError && error.code === 'no_signing_key') return undefined;
      throw error;
    }
  }

  /**
   * The voided marks of a batch, read from the very list the bundle carries (so the bundle never
   * says void where the signed bit does not): set positions → serials by the batch's index.
   */
  private async voidedMarks(
    batchId: string,
    listUrl: string,
    list: PublishedList,
  ): Promise<VoidedMark[]> {
    const payload = JSON.parse(
      Buffer.from(list.jwt.split('.')[1]!, 'base64url').toString('utf8'),
    ) as { credentialSubject: { encodedList: string } };
    const bits = decodeEncodedList(payload.credentialSubject.encodedList);
    const positions: number[] = [];
    for (let byte = 0; byte < bits.length; byte++) {
      if (bits[byte] === 0) continue;
      for (let bit = 0; bit < 8; bit++)
        if (getStatusBit(bits, byte * 8 + bit)) positions.push(byte * 8 + bit);
    }
    const serials = await q.serialsAtPositions(this.deps.db, { batchId, positions });
    return serials.map((m) => ({
      serialDigest: voidedMarkDigest(m.serial),
      list: listUrl,
      position: m.position,
    }));
  }
}
