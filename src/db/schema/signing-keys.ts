import { customType, index, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { issuers } from './issuers';

export const bytea = customType<{ data: Uint8Array; driverData: Buffer | Uint8Array }>({
  dataType: () => 'bytea',
  toDriver: (value) => Buffer.from(value.buffer, value.byteOffset, value.byteLength),
  fromDriver: (value) => new Uint8Array(value),
});

/**
 * An issuer's Ed25519 signing keys. The private seed is stored only wrapped (AES-256-GCM under the
 * key-encryption key in KEYS_DIR), never in the clear. `kid` is the RFC 7638 thumbprint.
 */
export const signingKeys = pgTable(
  'signing_keys',
  {
    kid: text('kid').primaryKey(),
    issuerId: uuid('issuer_id')
      .notNull()
      .references(() => issuers.id),
    /** First 3 bytes of the thumbprint, hex: the key id carried inside compact marks. */
    markKeyId: text('mark_key_id').notNull(),
    publicKey: bytea('public_key').notNull(),
    wrappedSeed: bytea('wrapped_seed').notNull(),
    status: text('status', { enum: ['current', 'retired', 'compromised'] }).notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    retiredAt: timestamp('retired_at', { withTimezone: true }),
    compromisedAt: timestamp('compromised_at', { withTimezone: true }),
  },
  (t) => [
    index('signing_keys_issuer').on(t.issuerId),
    index('signing_keys_mark_key_id').on(t.markKeyId),
  ],
);

export type SigningKeyRow = typeof signingKeys.$inferSelect;
