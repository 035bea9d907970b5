import type { Logger } from 'pino';
import { loggableError } from '../shared/loggable-error';
import { ReadRouter, type ReadConsistency } from '../db/read-replica';
import type { Database, Queryable } from '../db/client';
import type { IssuerRow } from '../db/schema/issuers';
import type { SignatoryJson } from '../db/schema/certificates';
import type { SigningKeyRow } from '../db/schema/signing-keys';
import { changeTime, type Clock } from '../clock';
import type { Actor } from '../auth/principal';
import { appendAuditEntry } from '../audit/audit.queries';
import { ed25519Jwk } from '../crypto/ed25519';
import { issuerUrl } from '../crypto/issuer-identifier';
import { AppError, notFound } from '../errors';
import type { KeyVault } from './key-vault';
import * as q from './issuers.queries';
import { recordEvent } from '../subscriptions/outbox';

export interface IssuerKeyView {
  kid: string;
  /** The public key (RFC 8037 OKP JWK): what verifiers trust for this kid. */
  publicKey: PublicKeyJwk;
  status: SigningKeyRow['status'];
  createdAt: string;
  retiredAt: string | null;
  compromisedAt: string | null;
}

export interface PublicKeyJwk {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  kid: string;
}

export interface IssuerView {
  id: string;
  name: string;
  kind: IssuerRow['kind'];
  schemes: string[];
  accreditationNo: string | null;
  country: string;
  status: IssuerRow['status'];
  statusReason: string | null;
  statusChangedAt: string | null;
  createdAt: string;
  keys: IssuerKeyView[];
}

export interface CreateIssuerInput {
  name: string;
  kind: IssuerRow['kind'];
  schemes: string[];
  accreditationNo?: string | undefined;
  country?: string | undefined;
}

export interface PublicJwk {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  kid: string;
  use: 'sig';
  alg: 'EdDSA';
  /** certmark extensions: whose key it is, what it signs, and whether it still signs. */
  issuer: string;
  issuerName: string;
  /**
   * `issuer`: an issuer's key (credentials, status lists, marks); `transparency-log`: the
   * platform's key, which signs the audit log's checkpoints and offline bundles and nothing else.
   */
  purpose: 'issuer' | 'transparency-log';
  status: 'current' | 'retired';
}

/** An issuer's published key (current or retired; a compromised key is never published). */
function publishedJwk(
  key: Pick<SigningKeyRow, 'kid' | 'issuerId' | 'publicKey' | 'status'>,
  issuerName: string,
): PublicJwk {
  return {
    ...ed25519Jwk(key.publicKey),
    kid: key.kid,
    use: 'sig',
    alg: 'EdDSA',
    issuer: key.issuerId,
    issuerName,
    purpose: 'issuer',
    status: key.status === 'current' ? 'current' : 'retired',
  };
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function keyView(k: SigningKeyRow): IssuerKeyView {
  return {
    kid: k.kid,
    publicKey: { ...ed25519Jwk(k.publicKey), kid: k.kid },
    status: k.status,
    createdAt: k.createdAt.toISOString(),
    retiredAt: iso(k.retiredAt),
    compromisedAt: iso(k.compromisedAt),
  };
}

export function issuerView(issuer: IssuerRow, keys: SigningKeyRow[]): IssuerView {
  return {
    id: issuer.id,
    name: issuer.name,
    kind: issuer.kind,
    schemes: issuer.schemes,
    accreditationNo: issuer.accreditationNo,
    country: issuer.country,
    status: issuer.status,
    statusReason: issuer.statusReason,
    statusChangedAt: iso(issuer.statusChangedAt),
    createdAt: issuer.createdAt.toISOString(),
    keys: keys.map(keyView),
  };
}

/** Who signs certificates again when a key is declared compromised (the certificates feature). */
export interface CredentialResigner {
  /** How many of the issuer's credentials are signed with a key declared compromised. */
  countToResign(tx: Queryable, issuerId: string): Promise<number>;
  /**
   * Signs them again with its current key, a page at a time, sweeping again after a pause while
   * some are left (rows held elsewhere, a failure) up to its attempts; how many it signed.
   */
  resignUntilDone(
    issuerId: string,
    options?: { onGiveUp?: (left: number, error: unknown) => void },
  ): Promise<number>;
}

/**
 * How long a compromise's answer waits for its credentials to be signed again; a larger issuer's
 * go on being signed after the answer (each page audited; what a crash leaves, at next start).
 */
const RESIGN_WAIT_MS = 5_000;

/** Who records an issuer's suspension in its status lists (the status-lists feature). */
export interface IssuerStatusRecorder {
  recordIssuerStatus(
    tx: Queryable,
    params: { issuerId: string; suspended: boolean; at: Date },
  ): Promise<void>;
}

/** Issuers, their approval scope and status, and the life cycle of their signing keys. */
export class IssuersService {
  constructor(
    private readonly db: Database,
    private readonly vault: KeyVault,
    private readonly clock: Clock,
    private readonly credentials: CredentialResigner,
    private readonly statusLists: IssuerStatusRecorder,
    /** Public reads may go to a replica within its staleness bound (src/db/read-replica.ts). */
    private readonly reads: ReadRouter = new ReadRouter({ primary: db }),
    private readonly logger?: Logger,
  ) {}

  async createIssuer(actor: Actor, input: CreateIssuerInput): Promise<IssuerView> {
    const at = this.clock.now();
    return this.db.transaction(async (tx) => {
      const issuer = await q.insertIssuer(tx, {
        name: input.name,
        kind: input.kind,
        schemes: [...new Set(input.schemes)],
        accreditationNo: input.accreditationNo ?? null,
        country: input.country ?? 'CN',
      });
      const key = await this.vault.createKey(tx, issuer.id, at);
      await appendAuditEntry(tx, at, {
        actor,
        action: 'issuer.create',
        subjectType: 'issuer',
        subjectId: issuer.id,
        change: { ...input, kid: key.kid },
      });
      return issuerView(issuer, [key]);
    });
  }

  async getIssuer(id: string): Promise<IssuerView> {
    const issuer = await q.findIssuer(this.db, id);
    if (!issuer) throw notFound('issuer');
    return issuerView(issuer, await q.listIssuerKeys(this.db, [id]));
  }

  async listIssuers(): Promise<IssuerView[]> {
    const rows = await q.listIssuers(this.db);
    const keys = await q.listIssuerKeys(
      this.db,
      rows.map((r) => r.id),
    );
    return rows.map((r) =>
      issuerView(
        r,
        keys.filter((k) => k.issuerId === r.id),
      ),
    );
  }

  /** Suspending an issuer makes every certificate of it verify ISSUER_SUSPENDED at once. */
  async setStatus(
    actor: Actor,
    id: string,
    status: IssuerRow['status'],
    reason: string | null,
    /** Who decided it (recorded in the audit log), when the caller names one. */
    signatory: SignatoryJson | null = null,
  ): Promise<IssuerView> {
    return this.db.transaction(async (tx) => {
      const issuer = await q.lockIssuer(tx, id, 'change');
      if (!issuer) throw notFound('issuer');
      // Asking for the status it has changes nothing: it must not rewrite when the status took
      // effect (statusChangedAt, which `at=` verifications replay), record a change or tell
      // subscribers again. Answered as a change would be, so reinstating is safe to repeat.
      if (issuer.status === status) return issuerView(issuer, await q.listIssuerKeys(tx, [id]));
      // Taken under the lock, so the issuer's history is in the order its changes were made.
      const at = changeTime(this.clock, issuer.statusChangedAt);
      const changed = await q.setIssuerStatus(tx, {
        id,
        status,
        reason,
        at,
        actorKeyId: actor.keyId,
      });
      // Offline verifiers learn of it from its certificates' suspension bits, set in this
      // transaction: the 200 below means the status lists say so too.
      await this.statusLists.recordIssuerStatus(tx, {
        issuerId: id,
        suspended: status === 'suspended',
        at,
      });
      await appendAuditEntry(tx, at, {
        actor,
        action: 'issuer.status',
        subjectType: 'issuer',
        subjectId: id,
        signatory,
        change: { from: issuer.status, to: status, reason },
      });
      await recordEvent(tx, {
        type: 'issuer.status_changed',
        at,
        issuerId: id,
        certificateId: null,
        data: {
          issuer: {
            id,
            name: issuer.name,
            status,
            previousStatus: issuer.status,
            statusReason: reason,
            statusChangedAt: at.toISOString(),
          },
        },
      });
      // Read in the transaction: the answer needs no connection after the commit.
      return issuerView(changed, await q.listIssuerKeys(tx, [id]));
    });
  }

  /** A new current key; the old one is retired, so what it signed still verifies. */
  async rotateKey(actor: Actor, issuerId: string): Promise<IssuerKeyView> {
    return this.db.transaction(async (tx) => {
      // One key change of an issuer at a time: two rotations (or a rotation and a compromise of
      // the current key) at once would each retire what they saw and leave two current keys.
      const issuer = await q.lockIssuer(tx, issuerId, 'change');
      if (!issuer) throw notFound('issuer');
      const at = this.clock.now();
      await q.retireCurrentKeys(tx, issuerId, at);
      const key = await this.vault.createKey(tx, issuerId, at);
      await appendAuditEntry(tx, at, {
        actor,
        action: 'key.rotate',
        subjectType: 'issuer',
        subjectId: issuerId,
        change: { kid: key.kid },
      });
      return keyView(key);
    });
  }

  /**
   * A compromised key leaves the JWKS and stops verifying. If it was the current key, the issuer
   * gets a fresh one so it can keep issuing; the certificates it signed are signed again with the
   * issuer's current key (marks cannot be: their labels are printed, and answer `UNKNOWN_KEY`).
   * The `reason` given, if any, is kept in the audit entry, with how many credentials are to be
   * signed again.
   *
   * The key's change holds the issuer alone; the signing again comes after, a page at a time
   * (CertificatesService.resignCompromised), so the issuer's issuance and checks go on meanwhile.
   * The answer waits for it up to RESIGN_WAIT_MS; a larger issuer's go on after the answer.
   */
  async compromiseKey(
    actor: Actor,
    issuerId: string,
    kid: string,
    reason: string | null,
  ): Promise<IssuerKeyView> {
    const key = await this.db.transaction(async (tx) => {
      // Under the issuer's lock, the key's status is as the last key change left it (see rotateKey).
      if (!(await q.lockIssuer(tx, issuerId, 'change'))) throw notFound('signing key');
      const existing = await q.findSigningKey(tx, kid);
      if (!existing || existing.issuerId !== issuerId) throw notFound('signing key');
      if (existing.status === 'compromised')
        throw new AppError('key_already_compromised', 'the key is already marked compromised');
      const at = this.clock.now();
      const compromised = await q.markKeyCompromised(tx, kid, at);
      let replacement: SigningKeyRow | undefined;
      if (existing.status === 'current') replacement = await this.vault.createKey(tx, issuerId, at);
      const resignedCertificates = await this.credentials.countToResign(tx, issuerId);
      await appendAuditEntry(tx, at, {
        actor,
        action: 'key.compromise',
        subjectType: 'issuer',
        subjectId: issuerId,
        change: { kid, replacementKid: replacement?.kid ?? null, resignedCertificates, reason },
      });
      return compromised;
    });
    this.vault.forget(kid);
    // The key's change has committed, whatever becomes of the signing again: it sweeps again
    // while some are left (held elsewhere, the database away); should it give up, it says so, and
    // the next look of any instance resumes it (CompromiseSweeper).
    const resigning = this.credentials
      .resignUntilDone(issuerId, {
        onGiveUp: (left, error) =>
          this.logger?.warn(
            { ...(error ? { err: loggableError(error) } : { left }), issuerId },
            'credentials of a compromised key are left to sign again; resumed at the next look',
          ),
      })
      .catch(() => 0);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      resigning,
      new Promise((resolve) => (timer = setTimeout(resolve, RESIGN_WAIT_MS))),
    ]);
    clearTimeout(timer);
    return keyView(key);
  }

  /** `/.well-known/jwks.json`: every issuer's current and retired keys (never compromised ones). */
  async jwks(
    extraKeys: PublicJwk[] = [],
    consistency: ReadConsistency = 'fresh',
  ): Promise<{ keys: PublicJwk[] }> {
    const rows = await this.reads.read(consistency, (db) => q.listPublishedKeys(db));
    return { keys: [...rows.map((r) => publishedJwk(r, r.issuerName)), ...extraKeys] };
  }

  /**
   * One issuer's JWK Set: its current and retired keys only (never a compromised one, never
   * another issuer's or the platform's), for `GET /v1/issuers/{id}/jwks.json` and its issuer
   * metadata. A verifier that trusts this issuer trusts nobody else by reading it.
   */
  async issuerJwks(
    issuerId: string,
    consistency: ReadConsistency = 'fresh',
  ): Promise<{ keys: PublicJwk[] }> {
    return this.issuersJwks([issuerId], consistency);
  }

  /**
   * Several issuers' keys, each as {@link issuerJwks} gives them, issuer after issuer in the order
   * named (an offline bundle narrowed to them): one read of the issuers and one of their keys,
   * however many are named. An unknown issuer is a 404.
   */
  async issuersJwks(
    issuerIds: readonly string[],
    consistency: ReadConsistency = 'fresh',
  ): Promise<{ keys: PublicJwk[] }> {
    const { found, rows } = await this.reads.read(consistency, async (db) => ({
      found: await q.findIssuers(db, issuerIds),
      rows: await q.listIssuerKeys(db, issuerIds),
    }));
    // PostgreSQL answers a uuid in lower case, whatever case it was asked in.
    const names = new Map(found.map((issuer) => [issuer.id, issuer.name]));
    const ids = issuerIds.map((id) => id.toLowerCase());
    if (ids.some((id) => !names.has(id))) throw notFound('issuer');
    return {
      keys: ids.flatMap((id) =>
        rows
          .filter((r) => r.issuerId === id && r.status !== 'compromised')
          .map((r) => publishedJwk(r, names.get(id)!)),
      ),
    };
  }

  /**
   * JWT VC Issuer Metadata (SD-JWT VC, "JWT VC Issuer Metadata"): `issuer` is identical to the
   * `iss` of every credential and status list the issuer signs, and the keys are given by value
   * (`jwks`; the draft allows `jwks` or `jwks_uri`, never both).
   */
  async issuerMetadata(
    issuerId: string,
    baseUrl: string,
    consistency: ReadConsistency = 'fresh',
  ): Promise<{ issuer: string; jwks: { keys: PublicJwk[] } }> {
    const jwks = await this.issuerJwks(issuerId, consistency);
    return { issuer: issuerUrl(baseUrl, issuerId), jwks };
  }
}
