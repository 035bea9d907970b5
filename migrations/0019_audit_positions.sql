-- An entry's place in the tree moves out of its audit_log row into a narrow table the sequencer
-- appends to (src/audit/sequencer.ts): integrating no longer rewrites each wide row (a non-HOT
-- update through every index of audit_log and the trigger), and writers no longer maintain the seq
-- and pending indexes. Stop-then-start: code from before this migration cannot sequence after it.
--
-- No audit_log insert may be in flight while the horizon is taken: this lock waits for every
-- transaction that inserted an entry to end, and holds new ones back until the migration commits.
LOCK TABLE "audit_log" IN ACCESS EXCLUSIVE MODE;
--> statement-breakpoint
CREATE TABLE "audit_positions" (
	"seq" bigint PRIMARY KEY NOT NULL,
	"entry_id" bigint NOT NULL,
	"leaf_hash" "bytea" NOT NULL,
	CONSTRAINT "audit_positions_entry_id_unique" UNIQUE("entry_id")
);
--> statement-breakpoint
-- Integrated entries keep their seq and leaf hash.
INSERT INTO "audit_positions" ("seq", "entry_id", "leaf_hash")
  SELECT "seq", "id", "leaf_hash" FROM "audit_log" WHERE "seq" IS NOT NULL;
--> statement-breakpoint
CREATE TABLE "audit_sequencer_horizon" (
	"singleton" integer DEFAULT 1 NOT NULL,
	"integrated_through" bigint NOT NULL,
	"candidate_id" bigint,
	"candidate_xid" "xid8",
	CONSTRAINT "audit_sequencer_horizon_singleton_pk" PRIMARY KEY("singleton"),
	CONSTRAINT "audit_sequencer_horizon_one_row" CHECK ("audit_sequencer_horizon"."singleton" = 1)
);
--> statement-breakpoint
-- Every entry below the first pending one is integrated, and (under the lock) none is in flight.
INSERT INTO "audit_sequencer_horizon" ("integrated_through")
  SELECT COALESCE((SELECT min("id") - 1 FROM "audit_log" WHERE "seq" IS NULL),
                  (SELECT max("id") FROM "audit_log"), 0);
--> statement-breakpoint
DROP INDEX "audit_log_seq";--> statement-breakpoint
DROP INDEX "audit_log_pending";--> statement-breakpoint
-- An id is drawn only once its transaction has a transaction id (the CASE evaluates its condition
-- first): the sequencer's horizon needs every drawn id to belong to a transaction that shows as
-- running (see sequencerHorizon in src/audit/audit.queries.ts).
ALTER TABLE "audit_log" ALTER COLUMN "id" SET DEFAULT CASE WHEN pg_current_xact_id() IS NOT NULL THEN nextval('audit_log_id_seq'::regclass) END;--> statement-breakpoint
-- Append-only, with no exception now: an entry is never updated, even to integrate it.
CREATE OR REPLACE FUNCTION audit_log_refuse_change() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
--> statement-breakpoint
ALTER TABLE "audit_log" DROP COLUMN "seq";--> statement-breakpoint
ALTER TABLE "audit_log" DROP COLUMN "leaf_hash";--> statement-breakpoint
CREATE TRIGGER audit_positions_no_update BEFORE UPDATE OR DELETE ON "audit_positions"
  FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
--> statement-breakpoint
CREATE TRIGGER audit_positions_no_truncate BEFORE TRUNCATE ON "audit_positions"
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
