ALTER TABLE "certificate_imports" ADD COLUMN "idempotency_key" text;--> statement-breakpoint
ALTER TABLE "certificate_imports" ADD COLUMN "body_digest" text;--> statement-breakpoint
CREATE UNIQUE INDEX "certificate_imports_idempotency_key" ON "certificate_imports" USING btree ("issuer_id","idempotency_key");