/**
 * Where pg-boss keeps the webhook deliveries it schedules (PostgreSQL only): its schema, and the
 * queue whose jobs are the deliveries, each job's id the delivery's.
 */
export const QUEUE_SCHEMA = 'pgboss';
export const DELIVERY_QUEUE = 'webhook-delivery';
