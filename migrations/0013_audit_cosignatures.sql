CREATE TABLE "audit_cosignatures" (
	"tree_size" bigint NOT NULL,
	"witness" text NOT NULL,
	"signature_line" text NOT NULL,
	"cosigned_at" timestamp with time zone NOT NULL,
	CONSTRAINT "audit_cosignatures_tree_size_witness_pk" PRIMARY KEY("tree_size","witness")
);
--> statement-breakpoint
ALTER TABLE "audit_cosignatures" ADD CONSTRAINT "audit_cosignatures_tree_size_audit_checkpoints_tree_size_fk" FOREIGN KEY ("tree_size") REFERENCES "public"."audit_checkpoints"("tree_size") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "audit_cosignatures_witness" ON "audit_cosignatures" USING btree ("witness","tree_size");