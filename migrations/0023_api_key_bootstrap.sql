-- The key made at start from ADMIN_API_KEY (or generated at a first start without it) is marked,
-- so that a new ADMIN_API_KEY can revoke the key made from the old one (a changed value is most
-- often a leaked one) and nothing else: a column, not the label "bootstrap (ADMIN_API_KEY)",
-- which any admin can give a key made through the API.
ALTER TABLE "api_keys" ADD COLUMN "bootstrap" boolean DEFAULT false NOT NULL;--> statement-breakpoint
-- The keys made so far as bootstrap keys: those whose audit trail holds an api_key.bootstrap
-- entry, as ensureAdminKey wrote it (revoked ones too: marking them changes nothing but what a
-- later ADMIN_API_KEY would revoke, and revoked keys it leaves alone). Driven from the admin
-- keys, few, each probing audit_log_subject (subject_id, subject_type): the LIMIT keeps the
-- probe a subplan per key, where an EXISTS may be planned as a scan of the whole log by action.
-- audit_log is only read (append-only by trigger).
UPDATE "api_keys" AS k SET "bootstrap" = true
WHERE k."role" = 'admin'
  AND (SELECT true FROM "audit_log" AS a
       WHERE a."subject_id" = k."id"::text AND a."subject_type" = 'api_key'
         AND a."action" = 'api_key.bootstrap'
       LIMIT 1);
