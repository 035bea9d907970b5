import { pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

/** A certification body or an exemption authority, with its approval scope (`schemes`). */
export const issuers = pgTable('issuers', {
  id: uuid('id').primaryKey().defaultRandom(),
  name: text('name').notNull(),
  kind: text('kind', { enum: ['certification_body', 'exemption_authority'] }).notNull(),
  schemes: text('schemes').array().notNull(),
  accreditationNo: text('accreditation_no'),
  country: text('country').notNull().default('CN'),
  status: text('status', { enum: ['active', 'suspended'] })
    .notNull()
    .default('active'),
  statusReason: text('status_reason'),
  statusChangedAt: timestamp('status_changed_at', { withTimezone: true }),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});

export type IssuerRow = typeof issuers.$inferSelect;
