import { boolean, index, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { issuers } from './issuers';
import { bytea } from './signing-keys';

export const roles = ['admin', 'issuer', 'customs', 'supervisor', 'subscriber'] as const;
export type Role = (typeof roles)[number];

/** API keys are stored only as their SHA-256 hash: the key itself is shown once, at creation. */
export const apiKeys = pgTable(
  'api_keys',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    keyHash: bytea('key_hash').notNull().unique('api_keys_key_hash_unique'),
    /** The first characters of the key, enough to recognise it in a list, not to use it. */
    prefix: text('prefix').notNull(),
    role: text('role', { enum: roles }).notNull(),
    issuerId: uuid('issuer_id').references(() => issuers.id),
    label: text('label'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
    /**
     * Made (or reinstated) at start from ADMIN_API_KEY, or generated at a first start without one:
     * the key a new ADMIN_API_KEY replaces. A column, not the label, which any admin may write.
     */
    bootstrap: boolean('bootstrap').notNull().default(false),
  },
  (t) => [index('api_keys_issuer').on(t.issuerId)],
);

export type ApiKeyRow = typeof apiKeys.$inferSelect;
