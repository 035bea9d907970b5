CREATE TABLE "customs_consumptions" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"declaration_no" text NOT NULL,
	"request_hash" text NOT NULL,
	"certificate_id" uuid NOT NULL,
	"status" text NOT NULL,
	"quantity" integer NOT NULL,
	"remaining_after" integer NOT NULL,
	"importer_uscc" text NOT NULL,
	"port" text,
	"model" text,
	"reasons" jsonb NOT NULL,
	"answer" jsonb NOT NULL,
	"api_key_id" uuid,
	"at" timestamp with time zone NOT NULL,
	CONSTRAINT "customs_consumptions_declaration_unique" UNIQUE("declaration_no"),
	CONSTRAINT "customs_consumptions_quantity_positive" CHECK ("customs_consumptions"."quantity" >= 1),
	CONSTRAINT "customs_consumptions_remaining_non_negative" CHECK ("customs_consumptions"."remaining_after" >= 0)
);
--> statement-breakpoint
ALTER TABLE "customs_consumptions" ADD CONSTRAINT "customs_consumptions_certificate_id_certificates_id_fk" FOREIGN KEY ("certificate_id") REFERENCES "public"."certificates"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "customs_consumptions" ADD CONSTRAINT "customs_consumptions_api_key_id_api_keys_id_fk" FOREIGN KEY ("api_key_id") REFERENCES "public"."api_keys"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "customs_consumptions_certificate" ON "customs_consumptions" USING btree ("certificate_id","id");--> statement-breakpoint
CREATE INDEX "customs_consumptions_status" ON "customs_consumptions" USING btree ("status","id");