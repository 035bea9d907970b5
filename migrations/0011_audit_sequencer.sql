CREATE TABLE "audit_checkpoints" (
	"tree_size" bigint PRIMARY KEY NOT NULL,
	"root_hash" "bytea" NOT NULL,
	"note" text NOT NULL,
	"signed_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
-- Entries are inserted by their change's transaction without a position; the sequencer gives each
-- its seq and leaf hash once (src/audit/sequencer.ts), so writers no longer wait on one lock.
ALTER TABLE "audit_log" DROP CONSTRAINT "audit_log_pkey";--> statement-breakpoint
ALTER TABLE "audit_log" ALTER COLUMN "seq" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "audit_log" ALTER COLUMN "leaf_hash" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "audit_log" ADD COLUMN "id" bigserial PRIMARY KEY NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX "audit_log_seq" ON "audit_log" USING btree ("seq");--> statement-breakpoint
CREATE INDEX "audit_log_pending" ON "audit_log" USING btree ("id") WHERE "audit_log"."seq" IS NULL;--> statement-breakpoint
-- Still append-only: the one UPDATE allowed gives a not-yet-integrated entry its seq and leaf hash
-- and changes nothing else; an integrated entry can never change, and nothing can be deleted.
CREATE OR REPLACE FUNCTION audit_log_refuse_change() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'UPDATE'
     AND OLD.seq IS NULL AND OLD.leaf_hash IS NULL
     AND NEW.seq IS NOT NULL AND NEW.leaf_hash IS NOT NULL
     AND (NEW.id, NEW.at, NEW.actor_key_id, NEW.actor_role, NEW.signatory, NEW.action,
          NEW.subject_type, NEW.subject_id, NEW.change_digest, NEW.change)
         IS NOT DISTINCT FROM
         (OLD.id, OLD.at, OLD.actor_key_id, OLD.actor_role, OLD.signatory, OLD.action,
          OLD.subject_type, OLD.subject_id, OLD.change_digest, OLD.change) THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
