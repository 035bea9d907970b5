import { z } from '@hono/zod-openapi';
import { principalOf, requireRole } from '../auth/auth.middleware';
import { actorOf } from '../auth/principal';
import { alertSeverities, alertStatuses } from '../db/schema/alerts';
import {
  bearerSecurity,
  createRouter,
  defineRoute,
  idParam,
  json,
  pageQuery,
  problems,
} from '../http/openapi';
import { sinceParam } from '../http/query';
import type { AlertsService } from './alerts.service';
import { alertReasons } from './alerts.service';

const ReasonSchema = z.object({ code: z.string(), message: z.string() });

export const AlertSchema = z
  .object({
    id: z.string().uuid(),
    subjectType: z.string().openapi({
      description:
        'mark | certificate | credential | code | report | signing_key (forgeries claiming a published key, by kid) | unattributed (forgeries claiming none, by channel)',
    }),
    subject: z.string(),
    reason: z.string(),
    severity: z.enum(alertSeverities),
    status: z.enum(alertStatuses),
    count: z
      .number()
      .int()
      .openapi({ description: 'Findings this alert stands for, the first included' }),
    firstSeen: z.string(),
    lastSeen: z.string(),
    regions: z.array(z.string()),
    issuerId: z.string().nullable(),
    certificateId: z.string().nullable(),
    raisedBy: z.object({
      channel: z.string(),
      verdict: z.string(),
      reasons: z.array(ReasonSchema),
      context: z.record(z.string(), z.unknown()).nullable(),
    }),
    lastSeenBy: z
      .object({ channel: z.string(), context: z.record(z.string(), z.unknown()).nullable() })
      .nullable(),
    resolution: z
      .object({ note: z.string().nullable(), by: z.string().nullable(), at: z.string() })
      .nullable(),
  })
  .openapi('Alert');

const AlertDetailSchema = AlertSchema.extend({
  reportCount: z
    .number()
    .int()
    .openapi({ description: 'How many reports were filed against the alert in all' }),
  reports: z
    .array(
      z.object({
        id: z.string(),
        serial: z
          .string()
          .nullable()
          .openapi({ description: 'The mark the report names (its serial), if it names one' }),
        code: z.string().nullable().openapi({
          description:
            'What the reporter scanned or typed; a mark code in it cut to its first 8 characters and “…”',
        }),
        certificateNumber: z.string().nullable(),
        description: z.string(),
        region: z.string().nullable(),
        contact: z.string().nullable(),
        createdAt: z.string(),
      }),
    )
    .openapi({ description: 'The latest 100 reports, the oldest of them first' }),
}).openapi('AlertDetail');

const listAlerts = defineRoute({
  operationId: 'listAlerts',
  method: 'get',
  path: '/v1/alerts',
  tags: ['Supervision'],
  summary: 'Alerts of forgery, misuse and clones, most severe first (supervisor, paginated)',
  security: bearerSecurity,
  middleware: [requireRole('supervisor')],
  request: {
    query: z.object({
      status: z.enum(alertStatuses).optional(),
      reason: z.enum(alertReasons).optional(),
      issuer: z.string().uuid().optional(),
      since: sinceParam.optional().openapi({
        type: 'string',
        description:
          'Alerts seen since this day (YYYY-MM-DD) or instant (with its offset: Z or +08:00)',
      }),
      ...pageQuery,
    }),
  },
  responses: {
    200: {
      description: 'A page of alerts',
      ...json(
        z.object({
          items: z.array(AlertSchema),
          page: z.number(),
          pageSize: z.number(),
          total: z.number(),
        }),
      ),
    },
  },
});

const getAlert = defineRoute({
  operationId: 'getAlert',
  method: 'get',
  path: '/v1/alerts/{id}',
  tags: ['Supervision'],
  summary: 'One alert with the reports filed against it (supervisor)',
  security: bearerSecurity,
  middleware: [requireRole('supervisor')],
  request: { params: idParam },
  responses: { 200: { description: 'The alert', ...json(AlertDetailSchema) }, ...problems(404) },
});

const resolveAlert = defineRoute({
  operationId: 'resolveAlert',
  method: 'post',
  path: '/v1/alerts/{id}/resolve',
  tags: ['Supervision'],
  summary: 'Resolve an open alert (supervisor); resolving a suspected clone clears the mark',
  security: bearerSecurity,
  middleware: [requireRole('supervisor')],
  request: {
    params: idParam,
    body: {
      ...json(
        z
          .object({ note: z.string().trim().min(1).max(2000).optional() })
          .strict()
          .openapi('ResolveAlert'),
      ),
      // SPEC: the resolution itself needs no body; a note is welcome.
      required: false,
    },
  },
  responses: {
    200: { description: 'The resolved alert', ...json(AlertSchema) },
    ...problems(404, { 409: 'The alert is already resolved (`alert_already_resolved`)' }),
  },
});

export function alertsRoutes(service: AlertsService) {
  return createRouter()
    .openapi(listAlerts, async (c) => c.json(await service.listAlerts(c.req.valid('query')), 200))
    .openapi(getAlert, async (c) => c.json(await service.getAlert(c.req.valid('param').id), 200))
    .openapi(resolveAlert, async (c) =>
      c.json(
        await service.resolveAlert(
          actorOf(principalOf(c)),
          c.req.valid('param').id,
          c.req.valid('json')?.note ?? null,
        ),
        200,
      ),
    );
}
