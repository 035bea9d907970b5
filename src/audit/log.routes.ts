import { z } from '@hono/zod-openapi';
import { createRouter, defineRoute, publicAccess } from '../http/openapi';
import type { AuditService } from './audit.service';

/**
 * The audit log as a C2SP transparency log, under `/log`: the checkpoint (tlog-checkpoint, a signed
 * note) and the log's note verifier key. Witnesses and monitors read these; the JSON views under
 * /v1/transparency are for the certmark CLI and people.
 */

const TEXT = 'text/plain; charset=utf-8';

/** tlog-tiles: the checkpoint "is mutable, so its headers SHOULD prevent caching beyond a few seconds". */
const CHECKPOINT_CACHE = 'public, max-age=5';

const text = (description: string, example: string) => ({
  description,
  content: { [TEXT]: { schema: z.string().openapi({ example }) } },
});

const checkpoint = defineRoute({
  operationId: 'getLogCheckpoint',
  method: 'get',
  path: '/log/checkpoint',
  security: publicAccess,
  tags: ['Audit and transparency'],
  summary: 'The audit log’s checkpoint: a C2SP signed note (tlog-checkpoint) (public)',
  description:
    'The note text is the origin line (`LOG_ORIGIN`), the tree size in decimal and the RFC 6962 root ' +
    'hash in base64, each followed by a newline; then a blank line and the log’s Ed25519 signature ' +
    'line `— <origin> base64(key ID ‖ signature)`, verifiable with the key of `GET /log/key`. ' +
    'Cached for 5 seconds at most.',
  responses: {
    200: text(
      'The signed checkpoint',
      'certmark.example.org/log\n1024\nq6UJ8T3vGk1yRZ0v1cHqJc0yq7DpB6gM2bq2fT0zJ8Q=\n\n— certmark.example.org/log AbCdEf…\n',
    ),
  },
});

const verifierKey = defineRoute({
  operationId: 'getLogVerifierKey',
  method: 'get',
  path: '/log/key',
  security: publicAccess,
  tags: ['Audit and transparency'],
  summary: 'The note verifier key of the log’s checkpoints (public)',
  description:
    '`<origin>+<key ID, 8 hex digits>+<base64(0x01 ‖ Ed25519 public key)>`, the format of ' +
    'golang.org/x/mod/sumdb/note and C2SP signed-note: give it to a witness or a monitor.',
  responses: {
    200: text(
      'The verifier key',
      'certmark.example.org/log+4f3a2b1c+AU1x2y3z4A5B6C7D8E9F0a1b2c3d4e5f6g7h8i9j0k1l',
    ),
  },
});

export function logRoutes(service: AuditService) {
  return createRouter()
    .openapi(checkpoint, async (c) =>
      c.text(await service.checkpointNote(), 200, { 'cache-control': CHECKPOINT_CACHE }),
    )
    .openapi(verifierKey, (c) =>
      c.text(service.verifierKey(), 200, { 'cache-control': 'public, max-age=86400' }),
    );
}
