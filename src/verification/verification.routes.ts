import { createRouter, defineRoute, json, problems, publicAccess } from '../http/openapi';
import type { MarkVerificationService } from './mark-verification.service';
import type { VerificationService } from './verification.service';
import {
  CertificateVerificationSchema,
  MarkVerificationSchema,
  VerifyCertificateBody,
  VerifyMarkBody,
} from './verification.schemas';

const verifyCertificate = defineRoute({
  operationId: 'verifyCertificate',
  method: 'post',
  path: '/v1/verify/certificate',
  security: publicAccess,
  tags: ['Verification'],
  summary: 'Verify a credential or a certificate number (public)',
  description:
    'Answers 200 for any well-formed request, whatever the credential holds: the verdict and every finding.',
  request: { body: { ...json(VerifyCertificateBody), required: true } },
  responses: {
    200: { description: 'The verdict', ...json(CertificateVerificationSchema) },
    ...problems({
      422: 'The number is held by several issuers: give issuerId (`ambiguous_number`, with `issuers`)',
    }),
  },
});

const verifyMark = defineRoute({
  operationId: 'verifyMark',
  method: 'post',
  path: '/v1/verify/mark',
  security: publicAccess,
  tags: ['Verification'],
  summary: 'Verify a scanned mark or a typed serial (public)',
  description:
    'Answers 200 for any well-formed request: the verdict, every finding, the scan count and the first scan. A typed serial whose check digits fail is a typing error: 422 `serial_check_failed`.',
  request: { body: { ...json(VerifyMarkBody), required: true } },
  responses: {
    200: { description: 'The verdict', ...json(MarkVerificationSchema) },
    ...problems({ 422: 'A typed serial whose check digits fail (`serial_check_failed`)' }),
  },
});

export function verificationRoutes(services: {
  certificates: VerificationService;
  marks: MarkVerificationService;
}) {
  return createRouter()
    .openapi(verifyCertificate, async (c) =>
      c.json(await services.certificates.verifyCertificate(c.req.valid('json')), 200),
    )
    .openapi(verifyMark, async (c) =>
      c.json(
        await services.marks.verifyMark(c.req.valid('json'), {
          role: c.get('principal')?.role ?? null,
          channel: 'api',
        }),
        200,
      ),
    );
}
