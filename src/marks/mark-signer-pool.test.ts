import { describe, expect, it } from 'vitest';
import { generateSigningKey, jwkThumbprint } from '../crypto/ed25519';
import { generateSerial } from '../crypto/serial';
import { renderMarkLines } from './mark-lines';
import { MarkSignerPool, signInline } from './mark-signer-pool';

describe('MarkSignerPool', () => {
  it('signs on worker threads the same codes as inline signing', async () => {
    const key = generateSigningKey();
    const kid = jwkThumbprint(key.publicKey);
    const serials = Array.from({ length: 3_000 }, () => generateSerial());
    const pool = new MarkSignerPool({ size: 2, inlineBelow: 100 });
    try {
      const codes = await pool.sign(key.seed, kid, serials);
      expect(pool.stats()).toMatchObject({ workers: 2, signedOnWorkers: 3_000, fallenBack: false });
      expect(codes).toEqual(signInline(key.seed, kid, serials));
      // Export lines rendered on the workers are the lines rendered here.
      const parts = await pool.render(key.seed, kid, serials, {
        format: 'csv',
        baseUrl: 'https://x.cn',
      });
      expect(Buffer.concat(parts).toString('utf8')).toBe(
        renderMarkLines(serials, codes, 'csv', 'https://x.cn'),
      );
      expect(pool.stats().signedOnWorkers).toBe(6_000);
    } finally {
      await pool.close();
    }
  });
});
