-- A subscription's pending deliveries, read from the index alone: the relay counts those handed to
-- the job queue (its backlog, which ranks its next ones behind other subscribers'), and the
-- embedded drain takes each subscription's due ones in order (src/subscriptions/).
CREATE INDEX "webhook_deliveries_subscription_pending" ON "webhook_deliveries" USING btree ("subscription_id","next_attempt_at","queued_at") WHERE state = 'pending';
