CREATE TABLE "alerts" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"subject_type" text NOT NULL,
	"subject" text NOT NULL,
	"reason" text NOT NULL,
	"severity" text NOT NULL,
	"status" text DEFAULT 'open' NOT NULL,
	"count" integer DEFAULT 1 NOT NULL,
	"first_seen" timestamp with time zone NOT NULL,
	"last_seen" timestamp with time zone NOT NULL,
	"regions" text[] DEFAULT '{}'::text[] NOT NULL,
	"issuer_id" uuid,
	"certificate_id" uuid,
	"channel" text NOT NULL,
	"verdict" text NOT NULL,
	"reasons" jsonb NOT NULL,
	"context" jsonb,
	"last_channel" text,
	"last_context" jsonb,
	"resolution_note" text,
	"resolved_by" uuid,
	"resolved_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "reports" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"code" text,
	"certificate_number" text,
	"description" text NOT NULL,
	"region" text,
	"contact" text,
	"subject_type" text NOT NULL,
	"subject" text NOT NULL,
	"alert_id" uuid NOT NULL,
	"created_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "inspection_draws" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"algorithm" text NOT NULL,
	"filter" jsonb NOT NULL,
	"certificate_count" integer NOT NULL,
	"inspector_count" integer NOT NULL,
	"inspectors" text[] NOT NULL,
	"seed" "bytea" NOT NULL,
	"commitment" text NOT NULL,
	"committed_at" timestamp with time zone NOT NULL,
	"status" text DEFAULT 'committed' NOT NULL,
	"candidates" jsonb,
	"candidates_digest" text,
	"selected_certificates" jsonb,
	"selected_inspectors" jsonb,
	"drawn_at" timestamp with time zone,
	"created_by" uuid
);
--> statement-breakpoint
ALTER TABLE "alerts" ADD CONSTRAINT "alerts_issuer_id_issuers_id_fk" FOREIGN KEY ("issuer_id") REFERENCES "public"."issuers"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "alerts" ADD CONSTRAINT "alerts_certificate_id_certificates_id_fk" FOREIGN KEY ("certificate_id") REFERENCES "public"."certificates"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "alerts" ADD CONSTRAINT "alerts_resolved_by_api_keys_id_fk" FOREIGN KEY ("resolved_by") REFERENCES "public"."api_keys"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "reports" ADD CONSTRAINT "reports_alert_id_alerts_id_fk" FOREIGN KEY ("alert_id") REFERENCES "public"."alerts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "inspection_draws" ADD CONSTRAINT "inspection_draws_created_by_api_keys_id_fk" FOREIGN KEY ("created_by") REFERENCES "public"."api_keys"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "alerts_one_open_per_subject_reason" ON "alerts" USING btree ("subject_type","subject","reason") WHERE status = 'open';--> statement-breakpoint
CREATE INDEX "alerts_status_last_seen" ON "alerts" USING btree ("status","last_seen");--> statement-breakpoint
CREATE INDEX "alerts_issuer" ON "alerts" USING btree ("issuer_id");--> statement-breakpoint
CREATE INDEX "alerts_subject" ON "alerts" USING btree ("subject_type","subject");--> statement-breakpoint
CREATE INDEX "reports_alert" ON "reports" USING btree ("alert_id");