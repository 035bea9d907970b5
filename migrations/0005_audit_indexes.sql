CREATE INDEX "audit_log_subject" ON "audit_log" USING btree ("subject_id","subject_type");--> statement-breakpoint
CREATE INDEX "audit_log_at" ON "audit_log" USING btree ("at");