-- NOT VALID: batches issued before positional serials keep their null number; every batch written
-- from now on (inserted, or updated by the older code's fill) must have one, so an instance of the
-- older code still running during the upgrade fails to issue instead of issuing random serials
-- that nothing reserves.
ALTER TABLE "mark_batches" ADD CONSTRAINT "mark_batches_numbered" CHECK ("mark_batches"."number" IS NOT NULL) NOT VALID;
