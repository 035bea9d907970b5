import { index, pgTable, timestamp, uuid } from 'drizzle-orm/pg-core';
import { apiKeys } from './api-keys';

/**
 * Browser sessions of the server-rendered pages (the supervisor's page). A session is a record, so
 * signing out ends it on the server: a copied or leftover cookie names a session that no longer
 * opens anything. The cookie carries only the session's id, authenticated with an HMAC.
 */
export const pageSessions = pgTable(
  'page_sessions',
  {
    id: uuid('id').primaryKey(),
    keyId: uuid('key_id')
      .notNull()
      .references(() => apiKeys.id),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    /** Set when the session was signed out. */
    endedAt: timestamp('ended_at', { withTimezone: true }),
  },
  (t) => [index('page_sessions_key').on(t.keyId)],
);

export type PageSessionRow = typeof pageSessions.$inferSelect;
