import { sql } from 'drizzle-orm';
import {
  bigserial,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  unique,
  uuid,
} from 'drizzle-orm/pg-core';
import { apiKeys } from './api-keys';
import { certificates } from './certificates';

export const consumptionStatuses = ['consumed', 'refused'] as const;
export type ConsumptionStatus = (typeof consumptionStatuses)[number];

/** A finding as stored with a decision (the verification reason `{ code, message }`). */
export interface StoredReasonJson {
  code: string;
  message: string;
}

/**
 * The CCC-exemption ledger: one row per customs declaration decided against an exemption, whether
 * it deducted quantity (`consumed`) or was refused (`refused`, with its reasons — an over-quantity
 * or a misuse attempt stays visible to supervisors). A declaration is decided once: the unique
 * declaration number makes every replay answer what was stored (`answer`), and `requestHash`
 * tells a faithful replay from a different request reusing the number.
 */
export const customsConsumptions = pgTable(
  'customs_consumptions',
  {
    /** Ledger order: ascending in insertion order, so a listing is stable. */
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    /** 报关单号: 18 digits. */
    declarationNo: text('declaration_no').notNull(),
    /** SHA-256 (hex) of the canonical request content: exemption, quantity, importer, port, model. */
    requestHash: text('request_hash').notNull(),
    certificateId: uuid('certificate_id')
      .notNull()
      .references(() => certificates.id),
    status: text('status', { enum: consumptionStatuses }).notNull(),
    /** The quantity the declaration imports (deducted only when `consumed`). */
    quantity: integer('quantity').notNull(),
    /** The exemption's remaining quantity right after this decision. */
    remainingAfter: integer('remaining_after').notNull(),
    importerUscc: text('importer_uscc').notNull(),
    port: text('port'),
    model: text('model'),
    reasons: jsonb('reasons').$type<StoredReasonJson[]>().notNull(),
    /** The full answer given, so a replay repeats it exactly. */
    answer: jsonb('answer').$type<Record<string, unknown>>().notNull(),
    /** The customs API key that made the declaration (accountability: 谁签字,谁担责). */
    apiKeyId: uuid('api_key_id').references(() => apiKeys.id),
    at: timestamp('at', { withTimezone: true }).notNull(),
  },
  (t) => [
    unique('customs_consumptions_declaration_unique').on(t.declarationNo),
    index('customs_consumptions_certificate').on(t.certificateId, t.id),
    index('customs_consumptions_status').on(t.status, t.id),
    check('customs_consumptions_quantity_positive', sql`${t.quantity} >= 1`),
    check('customs_consumptions_remaining_non_negative', sql`${t.remainingAfter} >= 0`),
  ],
);

export type CustomsConsumptionRow = typeof customsConsumptions.$inferSelect;
