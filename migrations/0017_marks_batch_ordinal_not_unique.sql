DROP INDEX "marks_batch_ordinal";--> statement-breakpoint
CREATE INDEX "marks_batch_ordinal" ON "marks" USING btree ("batch_id","ordinal");