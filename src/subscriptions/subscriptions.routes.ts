import { z } from '@hono/zod-openapi';
import { principalOf, requireRole } from '../auth/auth.middleware';
import { deliveryStates, webhookEventTypes } from '../db/schema/subscriptions';
import {
  bearerSecurity,
  createRouter,
  defineRoute,
  idParam,
  json,
  pageQuery,
  problems,
} from '../http/openapi';
import type { SubscriptionsService } from './subscriptions.service';

const EventType = z.enum(webhookEventTypes).openapi('WebhookEventType');

const SubscriptionSchema = z
  .object({
    id: z.string().uuid(),
    url: z.string(),
    events: z.array(EventType),
    filter: z
      .object({ certificates: z.array(z.string()) })
      .nullable()
      .openapi({ description: 'As it was given: certificate ids or numbers' }),
    certificateIds: z.array(z.string().uuid()).nullable().openapi({
      description:
        'The certificates the filter named when the subscription was made, by id: a number another issuer gives later is not followed',
    }),
    createdAt: z.string(),
    deletedAt: z.string().nullable(),
  })
  .openapi('Subscription');

const DeliverySchema = z
  .object({
    id: z
      .string()
      .uuid()
      .openapi({ description: 'The `webhook-id` header: the same on every attempt' }),
    eventId: z.string().uuid(),
    eventType: EventType,
    state: z.enum(deliveryStates),
    attempts: z.number().int(),
    createdAt: z.string(),
    lastAttemptAt: z.string().nullable(),
    lastStatus: z.number().int().nullable().openapi({ description: 'The receiver’s HTTP status' }),
    lastError: z
      .string()
      .nullable()
      .openapi({ description: '`timeout`, `connection_refused`, `address_refused`, `http_503`…' }),
    deliveredAt: z.string().nullable(),
    nextAttemptAt: z.string().nullable(),
    payload: z
      .record(z.string(), z.unknown())
      .openapi({ description: 'The message as sent: `{ type, timestamp, data }`' }),
    recentAttempts: z.array(
      z.object({
        at: z.string(),
        durationMs: z.number().int(),
        status: z.number().int().nullable(),
        error: z.string().nullable(),
      }),
    ),
  })
  .openapi('WebhookDelivery');

const subscribers = {
  security: bearerSecurity,
  middleware: [requireRole('issuer', 'customs', 'supervisor', 'subscriber')],
};

const createSubscription = defineRoute({
  operationId: 'createSubscription',
  method: 'post',
  path: '/v1/subscriptions',
  tags: ['Subscriptions'],
  summary:
    'Subscribe a URL to events (issuer, customs, supervisor, subscriber); the signing secret is shown only in this answer',
  description:
    'Deliveries are POSTed as `{ type, timestamp, data }`, signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`), at least once, retried with exponential backoff for at least a day. An issuer hears of its own certificates, marks, exemptions and itself; customs of exemption consumption; a supervisor of everything; a subscriber of the certificates its `filter` names (ids or numbers) and their issuer, public facts only. The URL must be https (http only to loopback outside production) and, in production, must not resolve to a private or local address.',
  ...subscribers,
  request: {
    body: {
      ...json(
        z
          .object({
            url: z.string().min(1).max(2000),
            events: z.array(EventType).min(1).max(webhookEventTypes.length),
            filter: z
              .object({ certificates: z.array(z.string().min(1).max(64)).min(1).max(1000) })
              .strict()
              .optional(),
          })
          .strict(),
      ),
      required: true,
    },
  },
  responses: {
    201: {
      description: 'Subscribed',
      ...json(
        SubscriptionSchema.extend({
          secret: z.string().openapi({ description: '`whsec_…`: verify deliveries with it' }),
        }),
      ),
    },
    ...problems({
      403: 'This key’s role may not subscribe to one of the events (`forbidden`)',
      422: 'The URL is refused (`webhook_url_refused`), the filter names an unknown certificate (`unprocessable`) or a number several issuers use (`ambiguous_number`)',
    }),
  },
});

const listSubscriptions = defineRoute({
  operationId: 'listSubscriptions',
  method: 'get',
  path: '/v1/subscriptions',
  tags: ['Subscriptions'],
  summary: 'This key’s subscriptions (an issuer’s: every key of the issuer), without secrets',
  ...subscribers,
  responses: {
    200: {
      description: 'Subscriptions',
      ...json(z.object({ items: z.array(SubscriptionSchema) })),
    },
  },
});

const deleteSubscription = defineRoute({
  operationId: 'deleteSubscription',
  method: 'delete',
  path: '/v1/subscriptions/{id}',
  tags: ['Subscriptions'],
  summary: 'End a subscription: deliveries not yet made are cancelled',
  ...subscribers,
  request: { params: idParam },
  responses: { 200: { description: 'Ended', ...json(SubscriptionSchema) }, ...problems(404) },
});

const listDeliveries = defineRoute({
  operationId: 'listSubscriptionDeliveries',
  method: 'get',
  path: '/v1/subscriptions/{id}/deliveries',
  tags: ['Subscriptions'],
  summary: 'A subscription’s delivery log, newest first, with each delivery’s latest attempts',
  ...subscribers,
  request: {
    params: idParam,
    query: z.object({ state: z.enum(deliveryStates).optional(), ...pageQuery }),
  },
  responses: {
    200: {
      description: 'Deliveries',
      ...json(
        z.object({
          items: z.array(DeliverySchema),
          page: z.number().int(),
          pageSize: z.number().int(),
          total: z.number().int(),
        }),
      ),
    },
    ...problems(404),
  },
});

export function subscriptionsRoutes(service: SubscriptionsService) {
  return createRouter()
    .openapi(createSubscription, async (c) =>
      c.json(await service.createSubscription(principalOf(c), c.req.valid('json')), 201),
    )
    .openapi(listSubscriptions, async (c) =>
      c.json({ items: await service.listSubscriptions(principalOf(c)) }, 200),
    )
    .openapi(deleteSubscription, async (c) =>
      c.json(await service.deleteSubscription(principalOf(c), c.req.valid('param').id), 200),
    )
    .openapi(listDeliveries, async (c) =>
      c.json(
        await service.listDeliveries(principalOf(c), c.req.valid('param').id, c.req.valid('query')),
        200,
      ),
    );
}
