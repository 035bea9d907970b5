CREATE TABLE "mark_batches" (
	"id" uuid PRIMARY KEY NOT NULL,
	"certificate_id" uuid NOT NULL,
	"issuer_id" uuid NOT NULL,
	"kid" text NOT NULL,
	"count" integer NOT NULL,
	"done" integer DEFAULT 0 NOT NULL,
	"model" text,
	"lot" text,
	"status" text DEFAULT 'pending' NOT NULL,
	"error" text,
	"created_by_key_id" uuid,
	"created_at" timestamp with time zone NOT NULL,
	"finished_at" timestamp with time zone,
	CONSTRAINT "mark_batches_count_range" CHECK ("mark_batches"."count" BETWEEN 1 AND 1000000),
	CONSTRAINT "mark_batches_done_range" CHECK ("mark_batches"."done" BETWEEN 0 AND "mark_batches"."count")
);
--> statement-breakpoint
CREATE TABLE "marks" (
	"serial" bigint PRIMARY KEY NOT NULL,
	"batch_id" uuid NOT NULL,
	"ordinal" integer NOT NULL,
	"certificate_id" uuid NOT NULL,
	"status" text DEFAULT 'active' NOT NULL,
	"void_reason" text,
	"voided_at" timestamp with time zone,
	"scan_count" integer DEFAULT 0 NOT NULL,
	"first_scan_at" timestamp with time zone,
	"first_scan_region" text,
	"first_scan_lat" double precision,
	"first_scan_lon" double precision,
	"last_scan_at" timestamp with time zone,
	"window_scan_count" integer DEFAULT 0 NOT NULL,
	"recent_provinces" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"recent_points" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"clone_flagged_at" timestamp with time zone,
	"clone_cleared_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "mark_scans" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"serial" bigint,
	"at" timestamp with time zone NOT NULL,
	"region" text,
	"lat" double precision,
	"lon" double precision,
	"caller_role" text,
	"channel" text NOT NULL,
	"verdict" text NOT NULL,
	"reasons" text[] NOT NULL
);
--> statement-breakpoint
ALTER TABLE "mark_batches" ADD CONSTRAINT "mark_batches_certificate_id_certificates_id_fk" FOREIGN KEY ("certificate_id") REFERENCES "public"."certificates"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "mark_batches" ADD CONSTRAINT "mark_batches_issuer_id_issuers_id_fk" FOREIGN KEY ("issuer_id") REFERENCES "public"."issuers"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "mark_batches" ADD CONSTRAINT "mark_batches_kid_signing_keys_kid_fk" FOREIGN KEY ("kid") REFERENCES "public"."signing_keys"("kid") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "marks" ADD CONSTRAINT "marks_batch_id_mark_batches_id_fk" FOREIGN KEY ("batch_id") REFERENCES "public"."mark_batches"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "marks" ADD CONSTRAINT "marks_certificate_id_certificates_id_fk" FOREIGN KEY ("certificate_id") REFERENCES "public"."certificates"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "mark_batches_certificate" ON "mark_batches" USING btree ("certificate_id");--> statement-breakpoint
CREATE INDEX "mark_batches_unfinished" ON "mark_batches" USING btree ("created_at") WHERE "mark_batches"."status" IN ('pending', 'running');--> statement-breakpoint
CREATE UNIQUE INDEX "marks_batch_ordinal" ON "marks" USING btree ("batch_id","ordinal");--> statement-breakpoint
CREATE INDEX "mark_scans_serial_at" ON "mark_scans" USING btree ("serial","at");