CREATE TABLE "status_list_entries" (
	"list_id" uuid NOT NULL,
	"index" integer NOT NULL,
	"certificate_id" uuid NOT NULL,
	CONSTRAINT "status_list_entries_list_id_index_pk" PRIMARY KEY("list_id","index")
);
--> statement-breakpoint
CREATE TABLE "status_lists" (
	"id" uuid PRIMARY KEY NOT NULL,
	"issuer_id" uuid NOT NULL,
	"purpose" text NOT NULL,
	"batch_id" uuid,
	"length" integer NOT NULL,
	"allocated" integer DEFAULT 0 NOT NULL,
	"bits" "bytea" NOT NULL,
	"version" integer DEFAULT 0 NOT NULL,
	"changed_at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	CONSTRAINT "status_lists_length" CHECK ("status_lists"."length" >= 131072 AND octet_length("status_lists"."bits") * 8 >= "status_lists"."length"),
	CONSTRAINT "status_lists_allocated" CHECK ("status_lists"."allocated" BETWEEN 0 AND "status_lists"."length")
);
--> statement-breakpoint
ALTER TABLE "status_list_entries" ADD CONSTRAINT "status_list_entries_list_id_status_lists_id_fk" FOREIGN KEY ("list_id") REFERENCES "public"."status_lists"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "status_list_entries" ADD CONSTRAINT "status_list_entries_certificate_id_certificates_id_fk" FOREIGN KEY ("certificate_id") REFERENCES "public"."certificates"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "status_lists" ADD CONSTRAINT "status_lists_issuer_id_issuers_id_fk" FOREIGN KEY ("issuer_id") REFERENCES "public"."issuers"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "status_lists" ADD CONSTRAINT "status_lists_batch_id_mark_batches_id_fk" FOREIGN KEY ("batch_id") REFERENCES "public"."mark_batches"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "status_list_entries_certificate" ON "status_list_entries" USING btree ("certificate_id");--> statement-breakpoint
CREATE INDEX "status_lists_open" ON "status_lists" USING btree ("issuer_id","purpose","created_at") WHERE "status_lists"."batch_id" IS NULL;--> statement-breakpoint
CREATE UNIQUE INDEX "status_lists_batch" ON "status_lists" USING btree ("batch_id");