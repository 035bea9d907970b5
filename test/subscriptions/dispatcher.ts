import {
  WebhookDispatcher,
  type WebhookDispatcherOptions,
} from '../../src/subscriptions/webhook-dispatcher';
import type { TestContext } from '../helpers';

/**
 * A started webhook dispatcher on a test context's PostgreSQL and pg-boss, with its configured
 * timeout and backoff, polling fast; `options` adds or overrides (concurrency, sweep interval).
 */
export async function startTestDispatcher(
  ctx: TestContext,
  options: Partial<WebhookDispatcherOptions> = {},
): Promise<WebhookDispatcher> {
  const dispatcher = new WebhookDispatcher({
    db: ctx.handle.db,
    kind: 'postgres',
    databaseUrl: ctx.databaseUrl,
    kek: ctx.keys.kek,
    production: false,
    timeoutMs: ctx.config.webhooks.timeoutMs,
    retryDelaySeconds: ctx.config.webhooks.retryDelaySeconds,
    pollingIntervalSeconds: 0.5,
    ...options,
  });
  await dispatcher.start();
  return dispatcher;
}
