-- A subscription's deliveries handed to the job queue and not yet ended: the relay counts them to
-- rank the subscription's next ones behind other subscribers' (src/subscriptions/webhook-dispatcher.ts).
CREATE INDEX "webhook_deliveries_outstanding" ON "webhook_deliveries" USING btree ("subscription_id") WHERE state = 'pending' AND queued_at IS NOT NULL;
