import { randomBytes } from 'node:crypto';
import { appendAuditEntry } from '../audit/audit.queries';
import type { Actor } from '../auth/principal';
import type { Clock } from '../clock';
import type { Database } from '../db/client';
import type { DrawFilterJson, InspectionDrawRow } from '../db/schema/inspection-draws';
import { AppError, notFound } from '../errors';
import { chinaDay } from '../shared/dates';
import {
  candidatesDigest,
  codePointSort,
  DRAW_ALGORITHM,
  DRAW_SEED_LENGTH,
  drawCommitment,
  recomputeDraw,
} from './draw';
import * as q from './inspections.queries';

/** A draw publishes its candidate list: above this, the filter must be narrowed (3.7 MB of ids). */
export const MAX_DRAW_CANDIDATES = 100_000;

export interface CreateDrawInput {
  filter: DrawFilterJson;
  certificateCount: number;
  inspectors: string[];
  inspectorCount: number;
}

export interface DrawView {
  id: string;
  algorithm: string;
  status: InspectionDrawRow['status'];
  filter: DrawFilterJson;
  certificateCount: number;
  inspectorCount: number;
  /** SHA-256(seed), hex, published at `committedAt`, before the candidates were read. */
  commitment: string;
  committedAt: string;
  /** The seed, hex: revealed once the draw is made, hidden while it is only committed. */
  seed: string | null;
  inspectors: string[];
  candidatesCount: number | null;
  candidatesDigest: string | null;
  candidates?: string[] | null;
  selectedCertificates: {
    id: string;
    number: string;
    scheme: string;
    holder: { name: string; uscc: string | null };
    issuer: { id: string; name: string };
  }[];
  selectedInspectors: string[];
  drawnAt: string | null;
}

/**
 * Random inspection draws (双随机、一公开): a supervisor draws certificates from a filter and
 * inspectors from a pool; the draw is published and anyone can recompute it.
 *
 * Commit, then reveal: the 32-byte seed is generated and its SHA-256 stored, audited and
 * published (its own committed transaction) before the candidate list is read; then the
 * candidates are read, the selection made with {@link recomputeDraw}, and seed, candidates and
 * result published together. The audit log's order (the commit entry's seq precedes the draw's)
 * makes the order of the two steps tamper-evident. A draw whose second step failed stays
 * `committed` and published as such: nobody can quietly re-roll it.
 */
export class InspectionsService {
  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
  ) {}

  async createDraw(actor: Actor, input: CreateDrawInput): Promise<DrawView> {
    const inspectors = codePointSort([...new Set(input.inspectors)]);
    if (input.inspectorCount > inspectors.length) {
      throw new AppError(
        'validation_failed',
        'inspectorCount exceeds the number of distinct inspectors',
        {
          errors: [{ path: 'inspectorCount', message: `at most ${inspectors.length}` }],
        },
      );
    }
    const filter: DrawFilterJson = {
      ...(input.filter.scheme ? { scheme: input.filter.scheme } : {}),
      ...(input.filter.issuerId ? { issuerId: input.filter.issuerId } : {}),
      ...(input.filter.region ? { region: input.filter.region } : {}),
    };
    // Only the size is looked at before the commitment, to refuse a draw too large to publish.
    const size = await q.countCandidates(this.db, { filter, day: chinaDay(this.clock.now()) });
    if (size > MAX_DRAW_CANDIDATES) {
      throw new AppError(
        'too_many_candidates',
        `the filter matches ${size} certificates; a draw may publish at most ${MAX_DRAW_CANDIDATES}`,
      );
    }

    // Step 1: commit to the seed.
    const seed = new Uint8Array(randomBytes(DRAW_SEED_LENGTH));
    const commitment = drawCommitment(seed);
    const committedAt = this.clock.now();
    const committed = await this.db.transaction(async (tx) => {
      const draw = await q.insertDraw(tx, {
        algorithm: DRAW_ALGORITHM,
        filter,
        certificateCount: input.certificateCount,
        inspectorCount: input.inspectorCount,
        inspectors,
        seed,
        commitment,
        committedAt,
        status: 'committed',
        createdBy: actor.keyId,
      });
      await appendAuditEntry(tx, committedAt, {
        actor,
        action: 'inspection.commit',
        subjectType: 'inspection_draw',
        subjectId: draw.id,
        change: {
          algorithm: DRAW_ALGORITHM,
          commitment,
          filter,
          certificateCount: input.certificateCount,
          inspectorCount: input.inspectorCount,
          inspectors,
        },
      });
      return draw;
    });

    // Step 2: read the candidates, draw, reveal.
    const drawnAt = this.clock.now();
    await this.db.transaction(async (tx) => {
      const candidates = codePointSort(
        await q.candidateIds(tx, { filter, day: chinaDay(drawnAt) }),
      );
      const result = recomputeDraw(
        seed,
        candidates,
        inspectors,
        input.certificateCount,
        input.inspectorCount,
      );
      const digest = candidatesDigest(candidates);
      const drawn = await q.recordDrawResult(tx, {
        id: committed.id,
        candidates,
        candidatesDigest: digest,
        selectedCertificates: result.certificates,
        selectedInspectors: result.inspectors,
        drawnAt,
      });
      if (!drawn) throw new AppError('draw_already_made', 'the draw was already made');
      await appendAuditEntry(tx, drawnAt, {
        actor,
        action: 'inspection.draw',
        subjectType: 'inspection_draw',
        subjectId: committed.id,
        change: {
          seed: Buffer.from(seed).toString('hex'),
          candidatesCount: candidates.length,
          candidatesDigest: digest,
          selectedCertificates: result.certificates,
          selectedInspectors: result.inspectors,
        },
      });
    });
    return this.getDraw(committed.id);
  }

  async getDraw(id: string): Promise<DrawView> {
    const row = await q.findDraw(this.db, id);
    if (!row) throw notFound('inspection draw');
    const [view] = await this.views([{ ...row, candidatesCount: row.candidates?.length ?? null }], {
      withCandidates: true,
    });
    return view!;
  }

  async listDraws(page: number, pageSize: number) {
    const { rows, total } = await q.listDraws(this.db, {
      limit: pageSize,
      offset: (page - 1) * pageSize,
    });
    return { items: await this.views(rows, { withCandidates: false }), page, pageSize, total };
  }

  private async views(
    rows: (Omit<InspectionDrawRow, 'candidates'> & {
      candidates?: string[] | null;
      candidatesCount: number | null;
    })[],
    options: { withCandidates: boolean },
  ): Promise<DrawView[]> {
    const certificates = await q.drawnCertificates(
      this.db,
      rows.flatMap((r) => r.selectedCertificates ?? []),
    );
    const byId = new Map(certificates.map((c) => [c.id, c]));
    return rows.map((row) => {
      const revealed = row.status === 'drawn';
      return {
        id: row.id,
        algorithm: row.algorithm,
        status: row.status,
        filter: row.filter,
        certificateCount: row.certificateCount,
        inspectorCount: row.inspectorCount,
        commitment: row.commitment,
        committedAt: row.committedAt.toISOString(),
        seed: revealed ? Buffer.from(row.seed).toString('hex') : null,
        inspectors: row.inspectors,
        candidatesCount: row.candidatesCount,
        candidatesDigest: row.candidatesDigest,
        ...(options.withCandidates ? { candidates: row.candidates ?? null } : {}),
        selectedCertificates: (row.selectedCertificates ?? []).map((id) => {
          const c = byId.get(id);
          return {
            id,
            number: c?.number ?? '',
            scheme: c?.scheme ?? '',
            holder: { name: c?.holderName ?? '', uscc: c?.holderUscc ?? null },
            issuer: { id: c?.issuerId ?? '', name: c?.issuerName ?? '' },
          };
        }),
        selectedInspectors: row.selectedInspectors ?? [],
        drawnAt: row.drawnAt?.toISOString() ?? null,
      };
    });
  }
}
