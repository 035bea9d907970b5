import { base32nopad } from '@scure/base';
import type { Client, TestContext } from '../helpers';

/** Test helpers for marks: issue a batch and read its codes back through the API. */

export interface IssuedMark {
  serial: string;
  code: string;
  url: string;
}

export async function issueMarks(
  api: Client,
  issuerKey: string,
  certificateId: string,
  body: Record<string, unknown> = { count: 3 },
): Promise<{ batchId: string; marks: IssuedMark[] }> {
  const res = await api.post(`/v1/certificates/${certificateId}/marks`, body, issuerKey);
  if (res.status !== 201) throw new Error(`marks: ${res.status} ${res.text}`);
  const marks = await exportMarks(api, issuerKey, res.body.batchId);
  return { batchId: res.body.batchId, marks };
}

export async function exportMarks(
  api: Client,
  issuerKey: string,
  batchId: string,
): Promise<IssuedMark[]> {
  const res = await api.get(`/v1/mark-batches/${batchId}/marks`, issuerKey);
  if (res.status !== 200) throw new Error(`export: ${res.status} ${res.text}`);
  return res.text
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as IssuedMark);
}

/** Flips bits of one payload byte of a code (offsets of src/crypto/mark-code.ts) and re-encodes it. */
export function tamperCode(code: string, offset: number, mask: number): string {
  const payload = base32nopad.decode(code);
  payload[offset]! ^= mask;
  return base32nopad.encode(payload);
}

export async function setBatchStatus(
  ctx: TestContext,
  batchId: string,
  status: string,
): Promise<void> {
  const { sql } = await import('drizzle-orm');
  await ctx.handle.db.execute(
    sql`UPDATE mark_batches SET status = ${status} WHERE id = ${batchId}::uuid`,
  );
}
