import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jwkThumbprint } from '../crypto/ed25519-core';
import { generateSigningKey } from '../crypto/ed25519';
import { trustedLogKeys } from './audit';
import { boundedFetch, MAX_ANSWER_BYTES, readBoundedFile } from './http';

/**
 * What the commands read from a server or a file they do not control (an outside probe: a body cut
 * short crashed `certmark bundle` with a stack trace, gigabytes ran it out of memory, `@/dev/zero`
 * was read until memory ran out, and a JWKS could vouch for a rewritten log).
 */
describe('hostile answers and files', () => {
  let server: http.Server;
  let base: string;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      if (req.url === '/cut') {
        res.writeHead(200, { 'content-length': '100000' });
        res.write('123456789');
        setTimeout(() => res.socket?.destroy(), 20);
      } else if (req.url === '/declared-huge') {
        res.writeHead(200, { 'content-length': String(MAX_ANSWER_BYTES + 1) });
        res.write('x');
      } else if (req.url === '/streamed-huge') {
        res.writeHead(200);
        const chunk = Buffer.alloc(1024 * 1024, 120);
        let sent = 0;
        const more = () => {
          while (sent <= MAX_ANSWER_BYTES && res.write(chunk)) sent += chunk.length;
          if (sent <= MAX_ANSWER_BYTES) res.once('drain', more);
          else res.end();
        };
        more();
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"ok":true}');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const get = boundedFetch('application/json');

  it('reads a whole answer, and hands it over read', async () => {
    const res = await get(`${base}/ok`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
  });

  it('turns a body cut short or too large into an error the command reports, never a crash', async () => {
    await expect(get(`${base}/cut`)).rejects.toThrow();
    await expect(get(`${base}/declared-huge`)).rejects.toThrow(/larger than 64 MiB/);
    await expect(get(`${base}/streamed-huge`)).rejects.toThrow(/larger than 64 MiB/);
  });

  it('reads no file that is not a regular one', () => {
    expect(() => readBoundedFile('/dev/zero')).toThrow(/not a regular file/);
    expect(() => readBoundedFile('/tmp')).toThrow(/not a regular file/);
  });

  it('trusts a log key only under its own kid, and only the pinned one when one is pinned', () => {
    const jwk = (x: Uint8Array, kid: string) => ({
      kty: 'OKP',
      crv: 'Ed25519',
      x: Buffer.from(x).toString('base64url'),
      kid,
      issuer: 'certmark',
    });
    const genuine = generateSigningKey().publicKey;
    const attacker = generateSigningKey().publicKey;
    const issuerKey = { kty: 'OKP', crv: 'Ed25519', x: 'AA', kid: 'issuer-kid', issuer: 'x' };
    const kidOf = jwkThumbprint;
    const served = {
      keys: [
        jwk(genuine, kidOf(genuine)),
        jwk(attacker, kidOf(genuine)), // the attacker's key under the genuine kid
        jwk(attacker, kidOf(attacker)), // a key of its own beside it
        issuerKey,
      ],
    };
    expect(trustedLogKeys(served, undefined).keys).toEqual([
      served.keys[0],
      served.keys[2],
      issuerKey,
    ]);
    expect(trustedLogKeys(served, kidOf(genuine)).keys).toEqual([served.keys[0], issuerKey]);
  });
});
