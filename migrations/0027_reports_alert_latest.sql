-- An alert's latest reports from one index range: the alert's detail and the supervisor console
-- show the latest few (anyone may report, and 3,000 reports on one alert made both 18.6 MB).
DROP INDEX "reports_alert";--> statement-breakpoint
CREATE INDEX "reports_alert_latest" ON "reports" USING btree ("alert_id","created_at","id");
