CREATE SEQUENCE "public"."mark_batch_numbers" INCREMENT BY 1 MINVALUE 1 MAXVALUE 95367430 START WITH 1 CACHE 1;--> statement-breakpoint
CREATE TABLE "mark_batch_numbers_taken" (
	"number" bigint PRIMARY KEY NOT NULL
);
--> statement-breakpoint
CREATE TABLE "mark_serials_upgrade" (
	"id" boolean PRIMARY KEY DEFAULT true NOT NULL,
	"through" bigint,
	"done" boolean NOT NULL,
	CONSTRAINT "mark_serials_upgrade_one_row" CHECK ("mark_serials_upgrade"."id")
);
--> statement-breakpoint
ALTER TABLE "mark_batches" ADD COLUMN "number" bigint;--> statement-breakpoint
CREATE UNIQUE INDEX "mark_batches_number" ON "mark_batches" USING btree ("number");--> statement-breakpoint
-- Batches issued from here on are numbered and their marks located by serial. A database with
-- marks already has random serials to keep clear of: the service reads them into
-- mark_batch_numbers_taken at its first start (MarksService.upgradeSerials) before numbering a batch.
INSERT INTO "mark_serials_upgrade" ("id", "through", "done") VALUES (true, NULL, NOT EXISTS (SELECT 1 FROM "marks"));
