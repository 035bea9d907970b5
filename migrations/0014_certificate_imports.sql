CREATE TABLE "certificate_import_dry_run_numbers" (
	"import_id" uuid NOT NULL,
	"number" text NOT NULL,
	"content" text NOT NULL,
	CONSTRAINT "certificate_import_dry_run_numbers_import_id_number_pk" PRIMARY KEY("import_id","number")
);
--> statement-breakpoint
CREATE TABLE "certificate_import_problems" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"import_id" uuid NOT NULL,
	"row" integer NOT NULL,
	"number" text,
	"field" text NOT NULL,
	"problem" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "certificate_import_rows" (
	"import_id" uuid NOT NULL,
	"row" integer NOT NULL,
	"content" text,
	"problem" text,
	CONSTRAINT "certificate_import_rows_import_id_row_pk" PRIMARY KEY("import_id","row")
);
--> statement-breakpoint
CREATE TABLE "certificate_imports" (
	"id" uuid PRIMARY KEY NOT NULL,
	"issuer_id" uuid NOT NULL,
	"api_key_id" uuid,
	"actor_role" text,
	"format" text NOT NULL,
	"dry_run" boolean NOT NULL,
	"status" text NOT NULL,
	"rows" integer NOT NULL,
	"bytes" bigint NOT NULL,
	"last_row" integer DEFAULT 0 NOT NULL,
	"imported" integer DEFAULT 0 NOT NULL,
	"unchanged" integer DEFAULT 0 NOT NULL,
	"failed" integer DEFAULT 0 NOT NULL,
	"error" text,
	"created_at" timestamp with time zone NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "certificate_import_dry_run_numbers" ADD CONSTRAINT "certificate_import_dry_run_numbers_import_id_certificate_imports_id_fk" FOREIGN KEY ("import_id") REFERENCES "public"."certificate_imports"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "certificate_import_problems" ADD CONSTRAINT "certificate_import_problems_import_id_certificate_imports_id_fk" FOREIGN KEY ("import_id") REFERENCES "public"."certificate_imports"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "certificate_import_rows" ADD CONSTRAINT "certificate_import_rows_import_id_certificate_imports_id_fk" FOREIGN KEY ("import_id") REFERENCES "public"."certificate_imports"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "certificate_imports" ADD CONSTRAINT "certificate_imports_issuer_id_issuers_id_fk" FOREIGN KEY ("issuer_id") REFERENCES "public"."issuers"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "certificate_import_problems_import" ON "certificate_import_problems" USING btree ("import_id","row");--> statement-breakpoint
CREATE INDEX "certificate_imports_issuer" ON "certificate_imports" USING btree ("issuer_id","created_at");--> statement-breakpoint
CREATE INDEX "certificate_imports_unfinished" ON "certificate_imports" USING btree ("created_at") WHERE "certificate_imports"."status" IN ('queued', 'running');