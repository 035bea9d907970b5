import { integer, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { apiKeys } from './api-keys';
import { bytea } from './signing-keys';

export interface DrawFilterJson {
  scheme?: string | undefined;
  issuerId?: string | undefined;
  /** A GB/T 2260 prefix of the holder's region: 2, 4 or 6 digits. */
  region?: string | undefined;
}

export const drawStatuses = ['committed', 'drawn'] as const;
export type DrawStatus = (typeof drawStatuses)[number];

/**
 * A random inspection draw (双随机、一公开). The seed's SHA-256 (`commitment`) is stored and
 * published before the candidates are read (`committedAt`); the seed itself is revealed with the
 * result, and anyone can recompute the selection from it and the published lists.
 */
export const inspectionDraws = pgTable('inspection_draws', {
  id: uuid('id').primaryKey().defaultRandom(),
  algorithm: text('algorithm').notNull(),
  filter: jsonb('filter').$type<DrawFilterJson>().notNull(),
  certificateCount: integer('certificate_count').notNull(),
  inspectorCount: integer('inspector_count').notNull(),
  /** The inspector pool, sorted (code-point order), as the algorithm consumes it. */
  inspectors: text('inspectors').array().notNull(),
  seed: bytea('seed').notNull(),
  /** SHA-256(seed), hex. */
  commitment: text('commitment').notNull(),
  committedAt: timestamp('committed_at', { withTimezone: true }).notNull(),
  status: text('status', { enum: drawStatuses }).notNull().default('committed'),
  /** The candidate certificate ids, sorted, as read after the commitment. */
  candidates: jsonb('candidates').$type<string[]>(),
  /** SHA-256 of the candidate ids joined by '\n', hex. */
  candidatesDigest: text('candidates_digest'),
  selectedCertificates: jsonb('selected_certificates').$type<string[]>(),
  selectedInspectors: jsonb('selected_inspectors').$type<string[]>(),
  drawnAt: timestamp('drawn_at', { withTimezone: true }),
  createdBy: uuid('created_by').references(() => apiKeys.id),
});

export type InspectionDrawRow = typeof inspectionDraws.$inferSelect;
