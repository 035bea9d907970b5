-- The supervisor's "since" filter on audit_log.at moves from a btree to a block range index:
-- entries arrive in time order, so a BRIN finds the blocks from a few summaries, and an audited
-- write maintains no tree for it. Building a BRIN reads the table once and is quick; writes to
-- audit_log wait for that build.
DROP INDEX "audit_log_at";--> statement-breakpoint
CREATE INDEX "audit_log_at" ON "audit_log" USING brin ("at");
