CREATE TABLE "issuers" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"kind" text NOT NULL,
	"schemes" text[] NOT NULL,
	"accreditation_no" text,
	"country" text DEFAULT 'CN' NOT NULL,
	"status" text DEFAULT 'active' NOT NULL,
	"status_reason" text,
	"status_changed_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "issuer_status_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"issuer_id" uuid NOT NULL,
	"status" text NOT NULL,
	"reason" text,
	"actor_key_id" uuid,
	"at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "signing_keys" (
	"kid" text PRIMARY KEY NOT NULL,
	"issuer_id" uuid NOT NULL,
	"mark_key_id" text NOT NULL,
	"public_key" "bytea" NOT NULL,
	"wrapped_seed" "bytea" NOT NULL,
	"status" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"retired_at" timestamp with time zone,
	"compromised_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "api_keys" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"key_hash" "bytea" NOT NULL,
	"prefix" text NOT NULL,
	"role" text NOT NULL,
	"issuer_id" uuid,
	"label" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"revoked_at" timestamp with time zone,
	CONSTRAINT "api_keys_key_hash_unique" UNIQUE("key_hash")
);
--> statement-breakpoint
CREATE TABLE "certificates" (
	"id" uuid PRIMARY KEY NOT NULL,
	"issuer_id" uuid NOT NULL,
	"number" text NOT NULL,
	"scheme" text NOT NULL,
	"holder" jsonb NOT NULL,
	"holder_uscc" text,
	"holder_name" text NOT NULL,
	"holder_region" text,
	"manufacturer" jsonb,
	"factories" jsonb NOT NULL,
	"scope" jsonb NOT NULL,
	"standards" jsonb NOT NULL,
	"valid_from" date NOT NULL,
	"valid_until" date NOT NULL,
	"quantity" integer,
	"remaining" integer,
	"purpose" text,
	"signatory" jsonb NOT NULL,
	"status" text DEFAULT 'valid' NOT NULL,
	"status_reason" text,
	"status_changed_at" timestamp with time zone,
	"kid" text NOT NULL,
	"credential" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "certificates_issuer_number_unique" UNIQUE("issuer_id","number"),
	CONSTRAINT "certificates_remaining_non_negative" CHECK ("certificates"."remaining" IS NULL OR "certificates"."remaining" >= 0),
	CONSTRAINT "certificates_remaining_within_quantity" CHECK ("certificates"."remaining" IS NULL OR "certificates"."remaining" <= "certificates"."quantity")
);
--> statement-breakpoint
CREATE TABLE "certificate_status_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"certificate_id" uuid NOT NULL,
	"status" text NOT NULL,
	"reason" text,
	"signatory" jsonb,
	"actor_key_id" uuid,
	"at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "audit_log" (
	"seq" bigint PRIMARY KEY NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"actor_key_id" uuid,
	"actor_role" text,
	"signatory" jsonb,
	"action" text NOT NULL,
	"subject_type" text NOT NULL,
	"subject_id" text NOT NULL,
	"change_digest" text NOT NULL,
	"change" jsonb,
	"leaf_hash" "bytea" NOT NULL
);
--> statement-breakpoint
ALTER TABLE "issuer_status_events" ADD CONSTRAINT "issuer_status_events_issuer_id_issuers_id_fk" FOREIGN KEY ("issuer_id") REFERENCES "public"."issuers"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "signing_keys" ADD CONSTRAINT "signing_keys_issuer_id_issuers_id_fk" FOREIGN KEY ("issuer_id") REFERENCES "public"."issuers"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_issuer_id_issuers_id_fk" FOREIGN KEY ("issuer_id") REFERENCES "public"."issuers"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "certificates" ADD CONSTRAINT "certificates_issuer_id_issuers_id_fk" FOREIGN KEY ("issuer_id") REFERENCES "public"."issuers"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "certificate_status_events" ADD CONSTRAINT "certificate_status_events_certificate_id_certificates_id_fk" FOREIGN KEY ("certificate_id") REFERENCES "public"."certificates"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "issuer_status_events_issuer_at" ON "issuer_status_events" USING btree ("issuer_id","at");--> statement-breakpoint
CREATE INDEX "signing_keys_issuer" ON "signing_keys" USING btree ("issuer_id");--> statement-breakpoint
CREATE INDEX "signing_keys_mark_key_id" ON "signing_keys" USING btree ("mark_key_id");--> statement-breakpoint
CREATE INDEX "api_keys_issuer" ON "api_keys" USING btree ("issuer_id");--> statement-breakpoint
CREATE INDEX "certificates_number" ON "certificates" USING btree ("number");--> statement-breakpoint
CREATE INDEX "certificates_holder_uscc" ON "certificates" USING btree ("holder_uscc");--> statement-breakpoint
CREATE INDEX "certificates_scheme" ON "certificates" USING btree ("scheme");--> statement-breakpoint
CREATE INDEX "certificate_status_events_cert_at" ON "certificate_status_events" USING btree ("certificate_id","at");