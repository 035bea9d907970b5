import { sql } from 'drizzle-orm';
import {
  check,
  date,
  index,
  integer,
  jsonb,
  pgTable,
  smallint,
  text,
  timestamp,
  unique,
  uuid,
} from 'drizzle-orm/pg-core';
import { issuers } from './issuers';

export interface PartyJson {
  name: string;
  uscc?: string | undefined;
  country: string;
  address?: string | undefined;
}
export interface ScopeItemJson {
  product: string;
  /** The models covered (patterns); none named: every model of the product (not CCC). */
  models?: string[] | undefined;
  hsCode?: string | undefined;
}
export interface SignatoryJson {
  name: string;
  title?: string | undefined;
}

export const certificateStatuses = ['valid', 'suspended', 'revoked', 'withdrawn'] as const;
export type CertificateStatus = (typeof certificateStatuses)[number];

export const certificates = pgTable(
  'certificates',
  {
    id: uuid('id').primaryKey(),
    issuerId: uuid('issuer_id')
      .notNull()
      .references(() => issuers.id),
    number: text('number').notNull(),
    scheme: text('scheme').notNull(),
    holder: jsonb('holder').$type<PartyJson>().notNull(),
    holderUscc: text('holder_uscc'),
    holderName: text('holder_name').notNull(),
    /** GB/T 2260 division of the holder, from USCC characters 3–8 (its registration authority). */
    holderRegion: text('holder_region'),
    manufacturer: jsonb('manufacturer').$type<PartyJson>(),
    factories: jsonb('factories').$type<PartyJson[]>().notNull(),
    scope: jsonb('scope').$type<ScopeItemJson[]>().notNull(),
    standards: jsonb('standards').$type<string[]>().notNull(),
    validFrom: date('valid_from').notNull(),
    validUntil: date('valid_until').notNull(),
    quantity: integer('quantity'),
    remaining: integer('remaining'),
    purpose: text('purpose'),
    signatory: jsonb('signatory').$type<SignatoryJson>().notNull(),
    status: text('status', { enum: certificateStatuses }).notNull().default('valid'),
    statusReason: text('status_reason'),
    statusChangedAt: timestamp('status_changed_at', { withTimezone: true }),
    kid: text('kid').notNull(),
    credential: text('credential').notNull(),
    /**
     * The format the stored credential is in (`CREDENTIAL_FORMAT` in certificates/credential.ts):
     * credentials of an older format are signed again at start.
     */
    credentialFormat: smallint('credential_format').notNull().default(1),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    unique('certificates_issuer_number_unique').on(t.issuerId, t.number),
    index('certificates_number').on(t.number),
    index('certificates_holder_uscc').on(t.holderUscc),
    index('certificates_scheme').on(t.scheme),
    // The credentials signed with a key, in id order: what a key's compromise signs again, a page
    // at a time (each page one range of this index, not a scan of the issuer's certificates).
    index('certificates_kid').on(t.kid, t.id),
    // The exemption ledger can never go below zero, whatever the code above it does.
    check(
      'certificates_remaining_non_negative',
      sql`${t.remaining} IS NULL OR ${t.remaining} >= 0`,
    ),
    check(
      'certificates_remaining_within_quantity',
      sql`${t.remaining} IS NULL OR ${t.remaining} <= ${t.quantity}`,
    ),
  ],
);

export type CertificateRow = typeof certificates.$inferSelect;
