-- A subject's entries are only ever looked up by equality (the supervisor's search, an alert's
-- history), so the btree on (subject_id, subject_type) becomes a hash index on subject_id: an
-- audited write then adds a four-byte hash to one bucket instead of a text key to a random leaf of
-- a btree (about six per cent of a plain write; bench/audit-append.ts). The type is a filter on
-- the few rows a subject's id finds. Building it reads audit_log once; writes to audit_log wait
-- for the build.
DROP INDEX "audit_log_subject";--> statement-breakpoint
CREATE INDEX "audit_log_subject" ON "audit_log" USING hash ("subject_id");
