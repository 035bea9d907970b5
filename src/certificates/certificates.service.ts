import { ReadRouter, type ReadConsistency } from '../db/read-replica';
import { randomUUID } from 'node:crypto';
import type { Database, Queryable } from '../db/client';
import type { CertificateRow } from '../db/schema/certificates';
import type { IssuerRow } from '../db/schema/issuers';
import { changeTime, type Clock } from '../clock';
import type { Principal } from '../auth/principal';
import { actorOf, systemActor, type Actor } from '../auth/principal';
import { appendAuditEntries, appendAuditEntry } from '../audit/audit.queries';
import { parseCredentialJws, signCredentialJws } from '../crypto/credential-jws';
import { AppError, forbidden, notFound } from '../errors';
import { lockIssuer } from '../issuers/issuers.queries';
import type { IssuerSigner, KeyVault } from '../issuers/key-vault';
import type { StatusListsService } from '../status-lists/status-lists.service';
import type { CertificateEntry } from '../status-lists/status-lists.queries';
import { buildCredentialPayload, CREDENTIAL_FORMAT } from './credential';
import { certificateView, type CertificateView } from './certificate-view';
import type { IssueCertificateInput } from './certificates.schemas';
import * as q from './certificates.queries';
import { isUuid } from '../shared/identifiers';
import { recordEvent } from '../subscriptions/outbox';

export interface IssuedCertificate extends CertificateView {
  credential: string;
  verifyUrl: string;
  qr: { svg: string; png: string };
}

export interface RegistrySearch {
  number?: string | undefined;
  uscc?: string | undefined;
  holder?: string | undefined;
  scheme?: string | undefined;
  issuer?: string | undefined;
  page: number;
  pageSize: number;
}

/** What issuing needs, looked up once however many certificates are issued. */
export interface Issuance {
  issuer: IssuerRow;
  signer: IssuerSigner;
  actor: Actor;
  at: Date;
  /** The import the certificates come from, recorded in their audit entries. */
  importId?: string;
}

/** Certificates re-signed per page after a key compromise (bounds memory, not the transaction). */
const RESIGN_PAGE_SIZE = 500;

/** `revoked` and `withdrawn` end a certificate's life: nothing leaves them. */
const FINAL_STATUSES = new Set(['revoked', 'withdrawn']);

/** GB 32100: characters 3–8 of a USCC are the registering authority's GB/T 2260 division. */
const regionOfUscc = (uscc: string | undefined) =>
  uscc && /^\d{6}$/.test(uscc.slice(2, 8)) ? uscc.slice(2, 8) : null;

/** Issuing certificates, changing their status, and the public register. */
export class CertificatesService {
  /** Issuers whose credentials this process is signing again now, and by how many sweeps. */
  readonly #resigning = new Map<string, number>();

  constructor(
    private readonly db: Database,
    private readonly vault: KeyVault,
    private readonly clock: Clock,
    private readonly baseUrl: string,
    private readonly statusLists: StatusListsService,
    /** Public reads may go to a replica within its staleness bound (src/db/read-replica.ts). */
    private readonly reads: ReadRouter = new ReadRouter({ primary: db }),
  ) {}

  verifyUrl(id: string): string {
    return `${this.baseUrl}/c/${id}`;
  }

  /** An issuer issues a certificate: record it, sign its credential, log it, in one transaction. */
  async issueCertificate(
    principal: Principal,
    input: IssueCertificateInput,
  ): Promise<IssuedCertificate> {
    const issuerId = principal.issuerId;
    if (!issuerId) throw forbidden('only an issuer key can issue certificates');
    const at = this.clock.now();
    const result = await this.db.transaction(async (tx) => {
      const issuer = await this.issuingIssuer(tx, issuerId);
      if (!issuer.schemes.includes(input.scheme)) {
        throw new AppError('scheme_not_approved', `the issuer is not approved for ${input.scheme}`);
      }
      const signer = await this.vault.currentSigner(tx, issuerId);
      const { issued } = await this.issueInTransaction(
        tx,
        { issuer, signer, actor: actorOf(principal), at },
        [input],
      );
      if (issued.length === 0) {
        throw new AppError(
          'duplicate_number',
          `this issuer already has a certificate numbered ${input.number}`,
        );
      }
      return { certificate: issued[0]!, issuer };
    });
    return this.issued(result.certificate, result.issuer, at);
  }

  /**
   * The issuer a key issues for, if it may issue now (it exists and is not suspended), read under
   * a share lock held for the rest of `tx`: a suspension or a key's rotation or compromise in
   * flight (which hold the row for update) is waited for and then seen, and none can begin until
   * this issuance commits. Read without it, a certificate committed after its issuer's suspension
   * kept a suspension bit of 0, and one signed by a key being compromised was never re-signed.
   */
  async issuingIssuer(tx: Queryable, issuerId: string): Promise<IssuerRow> {
    const issuer = await lockIssuer(tx, issuerId, 'read');
    if (!issuer) throw forbidden('the key’s issuer no longer exists');
    if (issuer.status !== 'active')
      throw new AppError('issuer_suspended', 'a suspended issuer cannot issue certificates');
    return issuer;
  }

  /** The issuer's current signer, looked up once for many certificates. */
  currentSigner(tx: Queryable, issuerId: string): Promise<IssuerSigner> {
    return this.vault.currentSigner(tx, issuerId);
  }

  /**
   * The issuance story, for one certificate or an import's chunk, in the caller's transaction:
   * each certificate gets its status list entries (revocation, suspension), its credential signed
   * with the issuer's current key, its row, and its `certificate.issue` audit entry, all written
   * with one multi-row insert each. The caller has checked the issuer and the schemes. A number
   * the issuer already has is never overwritten: that input is returned in `taken`, and nothing
   * of it is written.
   */
  async issueInTransaction(
    tx: Queryable,
    issuance: Issuance,
    inputs: readonly IssueCertificateInput[],
  ): Promise<{ issued: CertificateRow[]; taken: IssueCertificateInput[] }> {
    if (inputs.length === 0) return { issued: [], taken: [] };
    const { issuer, signer, at } = issuance;
    const statusEntries = await this.statusLists.chooseEntriesForCertificates(tx, {
      issuerId: issuer.id,
      at,
      count: inputs.length,
    });
    const rows: CertificateRow[] = [];
    for (const [i, input] of inputs.entries()) {
      const draft: Omit<CertificateRow, 'credential' | 'credentialFormat'> = {
        id: randomUUID(),
        issuerId: issuer.id,
        number: input.number,
        scheme: input.scheme,
        holder: input.holder,
        holderUscc: input.holder.uscc ?? null,
        holderName: input.holder.name,
        holderRegion: regionOfUscc(input.holder.uscc),
        manufacturer: input.manufacturer ?? null,
        factories: input.factories,
        scope: input.scope,
        standards: input.standards,
        validFrom: input.validFrom,
        validUntil: input.validUntil,
        quantity: input.quantity ?? null,
        remaining: input.quantity ?? null,
        purpose: input.purpose ?? null,
        signatory: input.signatory,
        status: 'valid',
        statusReason: null,
        statusChangedAt: null,
        kid: signer.kid,
        createdAt: at,
      };
      const credential = await signCredentialJws(
        buildCredentialPayload({
          certificate: draft,
          issuerName: issuer.name,
          baseUrl: this.baseUrl,
          issuedAt: at,
          credentialStatus: this.statusLists.entriesJson(statusEntries[i]!),
        }),
        signer,
      );
      rows.push({ ...draft, credential, credentialFormat: CREDENTIAL_FORMAT });
    }
    const written = await q.insertCertificates(tx, rows);
    await this.statusLists.recordEntriesOfCertificates(
      tx,
      rows.flatMap((row, i) =>
        written.has(row.id) ? [{ certificateId: row.id, entries: statusEntries[i]! }] : [],
      ),
    );
    await appendAuditEntries(
      tx,
      at,
      rows.flatMap((row, i) => {
        if (!written.has(row.id)) return [];
        const input = inputs[i]!;
        return [
          {
            actor: issuance.actor,
            action: 'certificate.issue',
            subjectType: 'certificate',
            subjectId: row.id,
            signatory: input.signatory,
            change: {
              ...input,
              kid: signer.kid,
              ...(issuance.importId ? { importId: issuance.importId } : {}),
            },
          },
        ];
      }),
    );
    return {
      issued: rows.filter((row) => written.has(row.id)),
      taken: inputs.filter((_, i) => !written.has(rows[i]!.id)),
    };
  }

  private issued(
    certificate: CertificateRow,
    issuer: Parameters<typeof certificateView>[1],
    now: Date,
  ): IssuedCertificate {
    return {
      ...certificateView(certificate, issuer, now),
      credential: certificate.credential,
      verifyUrl: this.verifyUrl(certificate.id),
      qr: {
        svg: `${this.baseUrl}/v1/certificates/${certificate.id}/qr.svg`,
        png: `${this.baseUrl}/v1/certificates/${certificate.id}/qr.png`,
      },
    };
  }

  /**
   * An issuer's keys were declared compromised: every credential signed with one of them is signed
   * again, unchanged in content, with the issuer's current key. The registry, not the key, is the
   * truth about a certificate, so a valid certificate stays valid and its page and
   * `GET /v1/certificates/{id}` carry a credential that verifies; the copies signed with the leaked
   * key answer `UNKNOWN_KEY` from the compromise on.
   *
   * One sweep: for each such key, a page at a time along certificates_kid, each page in its own
   * transaction holding the issuer's turn only to read (issuance, status changes and checks of the
   * issuer go on between pages: the whole of it under the compromise's exclusive turn held a large
   * issuer's issuance and historical checks off for minutes) and its rows locked, skipping rows
   * another transaction holds, with one audit entry per page. A key compromised or rotated between
   * pages is seen by the next one. Returns how many it signed again; {@link resignUntilDone} sweeps
   * until none is left.
   */
  async resignCompromised(
    issuerId: string,
    pageSize = RESIGN_PAGE_SIZE,
    signal?: AbortSignal,
  ): Promise<number> {
    let resigned = 0;
    for (const kid of await q.compromisedKidsInUse(this.db, issuerId)) {
      let afterId: string | null = null;
      // A stop ends it between pages: each page is whole, and the next look resumes the rest.
      while (!signal?.aborted) {
        const page = await this.db.transaction(async (tx) => {
          const issuer = await lockIssuer(tx, issuerId, 'read');
          if (!issuer) return [];
          const rows = await q.lockSignedWith(tx, { kid, afterId, limit: pageSize });
          if (rows.length === 0) return rows;
          const signer = await this.vault.currentSigner(tx, issuerId);
          const at = this.clock.now();
          await this.replaceCredentials(
            tx,
            rows.map((certificate) => ({ certificate, issuer, signer })),
            at,
          );
          await appendAuditEntry(tx, at, {
            actor: systemActor,
            action: 'certificate.credentials.resign',
            subjectType: 'issuer',
            subjectId: issuerId,
            change: { compromisedKid: kid, kid: signer.kid, resigned: rows.length },
          });
          return rows;
        });
        resigned += page.length;
        // Short: nothing unlocked is left after it (rows skipped are the next sweep's).
        if (page.length < pageSize) break;
        afterId = page[page.length - 1]!.id;
      }
    }
    return resigned;
  }

  /**
   * Sweeps ({@link resignCompromised}) until no credential of the issuer is signed with a
   * compromised key: rows skipped because another transaction held them, and a sweep that failed
   * (the database away, a statement timeout), are taken again after a pause that doubles from
   * 0.5 s up to 30 s. Gives up after `attempts` sweeps that left some, saying how many remain; the
   * next look of any instance resumes them (./compromise-sweeper).
   */
  async resignUntilDone(issuerId: string, options: ResignOptions = {}): Promise<number> {
    this.#resigning.set(issuerId, (this.#resigning.get(issuerId) ?? 0) + 1);
    try {
      return await this.#resignUntilDone(issuerId, options);
    } finally {
      const left = this.#resigning.get(issuerId)! - 1;
      if (left > 0) this.#resigning.set(issuerId, left);
      else this.#resigning.delete(issuerId);
    }
  }

  async #resignUntilDone(issuerId: string, options: ResignOptions): Promise<number> {
    const attempts = options.attempts ?? 12;
    const { signal } = options;
    let resigned = 0;
    for (let attempt = 1; !signal?.aborted; attempt++) {
      try {
        resigned += await this.resignCompromised(issuerId, RESIGN_PAGE_SIZE, signal);
        if (signal?.aborted) break;
        const left = await q.countSignedWithCompromisedKeys(this.db, issuerId);
        if (left === 0) return resigned;
        if (attempt >= attempts) {
          options.onGiveUp?.(left, undefined);
          return resigned;
        }
      } catch (error) {
        if (attempt >= attempts) {
          options.onGiveUp?.(-1, error);
          return resigned;
        }
      }
      // Unref'd, and cut short by a stop: a pause never holds a stopping process (the next look
      // of any instance resumes).
      await pause(Math.min(30_000, 500 * 2 ** (attempt - 1)), signal);
    }
    return resigned;
  }

  /**
   * Whether `credential` (a certificate's, as read) is signed with a key since declared
   * compromised: it awaits signing again. Judged from the credential itself, so a page signed
   * again between its read and this one cannot make the old one look current.
   */
  async awaitsSigningAgain(credential: string): Promise<boolean> {
    const parsed = parseCredentialJws(credential);
    return parsed.ok && (await q.isCompromisedKey(this.db, parsed.value.header.kid));
  }

  /** How many of the issuer's credentials are signed with a key declared compromised. */
  countToResign(tx: Queryable, issuerId: string): Promise<number> {
    return q.countSignedWithCompromisedKeys(tx, issuerId);
  }

  /**
   * {@link resignUntilDone} for every issuer that has credentials left to sign again and that this
   * process is not signing again already (./compromise-sweeper: at start, then periodically).
   */
  async resignAllCompromised(
    options: Pick<ResignOptions, 'signal' | 'onGiveUp'> = {},
  ): Promise<number> {
    let resigned = 0;
    for (const issuerId of await q.issuersWithCompromisedCredentials(this.db)) {
      if (options.signal?.aborted) break;
      if (this.#resigning.has(issuerId)) continue;
      resigned += await this.resignUntilDone(issuerId, {
        attempts: 3,
        signal: options.signal,
        onGiveUp: options.onGiveUp && ((left, error) => options.onGiveUp!(left, error, issuerId)),
      });
    }
    return resigned;
  }

  /**
   * Signs again, with the issuer's current key, every credential stored in an older format
   * (`CREDENTIAL_FORMAT`): same certificate content, today's claims. Runs at start, a page at a
   * time, each page in its own transaction with one audit entry per issuer saying how many of its
   * credentials were signed again; rows are locked as they are re-signed, so a status change in
   * flight waits for its page (or the page for it). One instance at a time does the work (an
   * advisory lock); the others find nothing left or skip. Returns how many were re-signed.
   */
  async upgradeCredentials(options: { pageSize?: number } = {}): Promise<number> {
    const pageSize = options.pageSize ?? RESIGN_PAGE_SIZE;
    let upgraded = 0;
    for (;;) {
      const count = await this.db.transaction(async (tx) => {
        if (!(await q.tryLockCredentialUpgrade(tx))) return 0;
        const page = await q.lockOutdatedCredentials(tx, {
          format: CREDENTIAL_FORMAT,
          limit: pageSize,
        });
        if (page.length === 0) return 0;
        const at = this.clock.now();
        const perIssuer = new Map<string, number>();
        const signers = new Map<string, IssuerSigner>();
        const items = [];
        for (const { certificate, issuer } of page) {
          let signer = signers.get(issuer.id);
          if (!signer)
            signers.set(issuer.id, (signer = await this.vault.currentSigner(tx, issuer.id)));
          items.push({ certificate, issuer, signer });
          perIssuer.set(issuer.id, (perIssuer.get(issuer.id) ?? 0) + 1);
        }
        await this.replaceCredentials(tx, items, at);
        for (const [issuerId, resigned] of perIssuer) {
          await appendAuditEntry(tx, at, {
            actor: systemActor,
            action: 'certificate.credentials.upgrade',
            subjectType: 'issuer',
            subjectId: issuerId,
            change: { format: CREDENTIAL_FORMAT, resigned },
          });
        }
        return page.length;
      });
      upgraded += count;
      if (count < pageSize) return upgraded;
    }
  }

  /**
   * Stores each certificate's credential signed anew with its `signer`, in the current format: the
   * page's status entries read at once, its credentials written by one statement.
   */
  private async replaceCredentials(
    tx: Queryable,
    items: readonly { certificate: CertificateRow; issuer: IssuerRow; signer: IssuerSigner }[],
    at: Date,
  ): Promise<void> {
    const entries = await this.statusLists.certificateEntriesOf(
      tx,
      items.map((item) => item.certificate.id),
    );
    const signed = [];
    for (const item of items) {
      const credential = await this.signCredential(tx, {
        ...item,
        at,
        entries: entries.get(item.certificate.id) ?? [],
      });
      signed.push({ id: item.certificate.id, credential, kid: item.signer.kid });
    }
    await q.replaceCredentials(tx, signed, CREDENTIAL_FORMAT);
  }

  /**
   * A stored certificate's credential signed anew with `signer`: its status entries, given a pair
   * (with its bits set from the statuses as they are) if it had none, a credential signed before
   * status lists.
   */
  private async signCredential(
    tx: Queryable,
    args: {
      certificate: CertificateRow;
      issuer: IssuerRow;
      signer: IssuerSigner;
      at: Date;
      /** Its status list entries as read (none: a credential signed before status lists). */
      entries: CertificateEntry[];
    },
  ): Promise<string> {
    const { certificate, issuer } = args;
    let entries = args.entries;
    if (entries.length === 0) {
      entries = await this.statusLists.chooseCertificateEntries(tx, {
        issuerId: issuer.id,
        at: args.at,
      });
      await this.statusLists.recordCertificateEntries(tx, certificate.id, entries);
      await this.statusLists.recordCertificateStatus(tx, {
        certificateId: certificate.id,
        status: certificate.status,
        issuerSuspended: issuer.status === 'suspended',
        at: args.at,
      });
    }
    return signCredentialJws(
      buildCredentialPayload({
        certificate,
        issuerName: issuer.name,
        baseUrl: this.baseUrl,
        issuedAt: args.at,
        credentialStatus: this.statusLists.entriesJson(entries),
      }),
      args.signer,
    );
  }

  /**
   * The ids of the certificates a typed number names, as verification by number finds them (the
   * form typed first, then folded ones: src/certificates/certificates.queries.ts).
   */
  async idsByNumber(number: string, consistency: ReadConsistency = 'bounded'): Promise<string[]> {
    const found = await this.reads.read(consistency, (db) =>
      q.findCertificatesByNumber(db, { number }),
    );
    return found.map((f) => f.certificate.id);
  }

  /** `bounded` for a public view; `fresh` (the default) right after a change, and for its author. */
  async getCertificate(
    id: string,
    consistency: ReadConsistency = 'fresh',
  ): Promise<IssuedCertificate> {
    const found = await this.reads.read(consistency, (db) => q.findCertificate(db, id));
    if (!found) throw notFound('certificate');
    return this.issued(found.certificate, found.issuer, this.clock.now());
  }

  /** The owning issuer changes a certificate's status; revoked and withdrawn are final. */
  async changeStatus(
    principal: Principal,
    id: string,
    change: {
      status: CertificateRow['status'];
      reason: string;
      signatory: { name: string; title?: string | undefined };
    },
  ): Promise<IssuedCertificate> {
    return this.db.transaction(async (tx) => {
      // The issuer first (as its own changes take it, then its certificates: no deadlock), held so
      // that its status as committed is the one the suspension bit below agrees with.
      const issuer = principal.issuerId
        ? await lockIssuer(tx, principal.issuerId, 'read')
        : undefined;
      const certificate = await q.lockCertificate(tx, id);
      if (!certificate) throw notFound('certificate');
      // Its time and its transition are read under the row lock: a change that waited for another
      // sees that one's outcome and comes after it in the history. Timed before the lock, a
      // revocation that lost a race to a reinstatement was recorded before it, and verification
      // `at` now then answered authentic for a revoked certificate.
      const at = changeTime(this.clock, certificate.statusChangedAt);
      if (certificate.issuerId !== principal.issuerId) {
        throw forbidden('only the issuing body may change this certificate');
      }
      if (FINAL_STATUSES.has(certificate.status)) {
        throw new AppError(
          'status_final',
          `the certificate is ${certificate.status}; that is final`,
        );
      }
      if (certificate.status === change.status) {
        throw new AppError('status_unchanged', `the certificate is already ${change.status}`);
      }
      // A suspended body may still take its certificates out of use (it answers for them), but
      // not put one back in use until a supervisor reinstates it.
      if (change.status === 'valid' && issuer?.status === 'suspended') {
        throw new AppError('issuer_suspended', 'a suspended issuer cannot reinstate certificates');
      }
      await q.updateCertificateStatus(tx, { id, ...change, at, actorKeyId: principal.keyId });
      // The status lists change in the same transaction: the 200 below means they say so too.
      await this.statusLists.recordCertificateStatus(tx, {
        certificateId: id,
        status: change.status,
        issuerSuspended: issuer?.status === 'suspended',
        at,
      });
      await appendAuditEntry(tx, at, {
        actor: actorOf(principal),
        action: 'certificate.status',
        subjectType: 'certificate',
        subjectId: id,
        signatory: change.signatory,
        change: { from: certificate.status, to: change.status, reason: change.reason },
      });
      // Public facts only: subscribers following this certificate receive this very message.
      await recordEvent(tx, {
        type: 'certificate.status_changed',
        at,
        issuerId: certificate.issuerId,
        certificateId: id,
        data: {
          certificate: {
            id,
            number: certificate.number,
            scheme: certificate.scheme,
            issuerId: certificate.issuerId,
            status: change.status,
            previousStatus: certificate.status,
            statusReason: change.reason,
            statusChangedAt: at.toISOString(),
          },
        },
      });
      // Read back in the transaction: once it commits, the answer needs no further connection (a
      // 503 for a change that was made would have the official retry it).
      const changed = (await q.findCertificate(tx, id))!;
      return this.issued(changed.certificate, changed.issuer, at);
    });
  }

  async statusHistory(id: string, consistency: ReadConsistency = 'fresh') {
    const { found, events } = await this.reads.read(consistency, async (db) => ({
      found: await q.findCertificate(db, id),
      events: await q.certificateStatusHistory(db, id),
    }));
    if (!found) throw notFound('certificate');
    return events.map((e) => ({
      status: e.status,
      reason: e.reason,
      signatory: e.signatory,
      at: e.at.toISOString(),
    }));
  }

  async searchRegistry(search: RegistrySearch, consistency: ReadConsistency = 'fresh') {
    const { rows, total } = await this.reads.read(consistency, (db) =>
      q.searchCertificates(db, {
        number: search.number,
        uscc: search.uscc,
        holder: search.holder,
        scheme: search.scheme,
        // The issuer by id, or (as a member of the public would search) by name or accreditation.
        ...(search.issuer && isUuid(search.issuer)
          ? { issuerId: search.issuer }
          : { issuerName: search.issuer }),
        limit: search.pageSize,
        offset: (search.page - 1) * search.pageSize,
      }),
    );
    const now = this.clock.now();
    return {
      items: rows.map((r) => certificateView(r.certificate, r.issuer, now)),
      page: search.page,
      pageSize: search.pageSize,
      total,
    };
  }
}

/** How a sweep of one issuer's credentials ({@link CertificatesService.resignUntilDone}) runs. */
export interface ResignOptions {
  /** Sweeps that left some before giving up (12). */
  attempts?: number;
  /** Told when it gives up: how many are left (-1 when the last sweep failed), and why. */
  onGiveUp?: (left: number, error: unknown, issuerId?: string) => void;
  /** Ends it between pages and pauses (the service stopping). */
  signal?: AbortSignal | undefined;
}

/** Waits `ms` (unref'd), or less once `signal` aborts. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    timer.unref();
    signal?.addEventListener('abort', done, { once: true });
  });
}
