import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config';
import {
  NOTE_COSIGNATURE_V1,
  verifierOfSeed,
  formatVerifierKey,
  NOTE_ED25519,
  cosignNoteLine,
} from '../crypto/signed-note';
import { addCheckpointBody, cosignatureOf, WitnessClient, WitnessError } from './witness-client';
import { parseWitnessKey, parseWitnessList } from './witness-config';

const vector = JSON.parse(
  readFileSync(
    new URL('../../test/vectors/signed-note/witnessed-checkpoint.json', import.meta.url),
    'utf8',
  ),
) as { note: string; logVkey: string; witnessVkey: string; witnessTimestamp: number };

/** The log's own note (text and its two signature lines) and the witnesses' lines after it. */
function splitVector() {
  const lines = vector.note.split('\n');
  const logLines = lines.slice(4, 6).join('\n') + '\n';
  return {
    checkpoint: { treeSize: 1432088532, note: `${lines.slice(0, 4).join('\n')}\n${logLines}` },
    witnessLines: lines.slice(6, -1).join('\n') + '\n',
  };
}

describe('cosignatures from a witness we did not write', () => {
  const remora = parseWitnessKey(vector.witnessVkey);

  it('verifies remora.n621.de’s cosignature of a published CT checkpoint, ignoring unknown witnesses', () => {
    const { checkpoint, witnessLines } = splitVector();
    const cosignature = cosignatureOf(remora, checkpoint, witnessLines);
    expect(cosignature.timestamp).toBe(vector.witnessTimestamp);
    expect(cosignature.signatureLine).toBe(
      witnessLines.split('\n').find((l) => l.startsWith('— remora.n621.de '))! + '\n',
    );
  });

  it('refuses it over another checkpoint, and an answer without it', () => {
    const { checkpoint, witnessLines } = splitVector();
    const other = { ...checkpoint, note: checkpoint.note.replace('1432088532', '1432088533') };
    expect(() => cosignatureOf(remora, other, witnessLines)).toThrow(WitnessError);
    const others = witnessLines
      .split('\n')
      .filter((l) => l && !l.includes('remora'))
      .map((l) => `${l}\n`)
      .join('');
    expect(() => cosignatureOf(remora, checkpoint, others)).toThrow('no cosignature');
    expect(() => cosignatureOf(remora, checkpoint, 'OK\n')).toThrow('not note signature lines');
  });
});

describe('add-checkpoint request body (C2SP tlog-witness)', () => {
  it('is byte for byte the spec’s example', () => {
    const proof = [
      'PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=',
      'jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=',
      '5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=',
      '/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=',
    ];
    const checkpoint =
      'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n' +
      '— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n' +
      '— example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n';
    const body = addCheckpointBody(
      20852014,
      proof.map((p) => new Uint8Array(Buffer.from(p, 'base64'))),
      checkpoint,
    );
    expect(body).toBe(`old 20852014\n${proof.join('\n')}\n\n${checkpoint}`);
    expect(addCheckpointBody(0, [], checkpoint)).toBe(`old 0\n\n${checkpoint}`);
    expect(() => addCheckpointBody(0, [new Uint8Array(32)], checkpoint)).toThrow();
    expect(() => addCheckpointBody(5, Array(64).fill(new Uint8Array(32)), checkpoint)).toThrow();
  });
});

describe('WITNESSES and WITNESS_QUORUM', () => {
  const seed = new Uint8Array(32).fill(3);
  const cosigner = formatVerifierKey(
    verifierOfSeed('witness.example/w1', seed, NOTE_COSIGNATURE_V1),
  );
  const plain = formatVerifierKey(verifierOfSeed('witness.example/w2', seed.fill(4), NOTE_ED25519));

  it('reads <verifier key>@<URL> lists; a type-0x01 key becomes its cosignature/v1 key', () => {
    const list = parseWitnessList(
      ` ${cosigner}@https://w1.example/a/ , ${plain}@http://127.0.0.1:7380`,
    );
    expect(list.map((w) => w.submissionPrefix)).toEqual([
      'https://w1.example/a',
      'http://127.0.0.1:7380',
    ]);
    expect(list.map((w) => w.verifier.type)).toEqual([NOTE_COSIGNATURE_V1, NOTE_COSIGNATURE_V1]);
    expect(list[1]!.verifier.keyId).not.toBe(Number.parseInt(plain.split('+')[1]!, 16));
    const config = loadConfig({ WITNESSES: `${cosigner}@https://w1.example`, WITNESS_QUORUM: '1' });
    expect(config.witnesses).toHaveLength(1);
    expect(config.witnessQuorum).toBe(1);
    expect(loadConfig({}).witnesses).toEqual([]);
  });

  it('refuses malformed values at start, naming the variable', () => {
    const bad: [Record<string, string>, string][] = [
      [{ WITNESSES: 'https://w1.example' }, 'WITNESSES: an entry is not <verifier key>@<URL>'],
      [{ WITNESSES: `${cosigner.slice(0, -2)}xx@https://w.example` }, 'is not a note verifier key'],
      [{ WITNESSES: `${cosigner}@ftp://w.example` }, 'must be http(s)'],
      [{ WITNESSES: `${cosigner}@not a url` }, 'is not a URL'],
      [{ WITNESSES: `${cosigner}@https://u:p@w.example` }, 'no credentials'],
      [
        { WITNESSES: `${cosigner}@https://a.example,${cosigner}@https://b.example` },
        'listed twice',
      ],
      [
        { WITNESSES: `${cosigner}@https://a.example`, WITNESS_QUORUM: '2' },
        'WITNESS_QUORUM: 2 cosignatures cannot come from 1 witness',
      ],
      [{ WITNESS_QUORUM: '1' }, 'WITNESS_QUORUM: 1 cosignatures cannot come from 0 witnesses'],
      [{ WITNESS_QUORUM: 'two' }, 'WITNESS_QUORUM: a whole number'],
      [{ WITNESS_QUORUM: '-1' }, 'WITNESS_QUORUM: a whole number'],
    ];
    for (const [env, message] of bad) {
      expect(() => loadConfig(env), JSON.stringify(env)).toThrow(message);
    }
  });
});

describe('a 409 from the witness', () => {
  const [endpoint] = parseWitnessList(
    `${formatVerifierKey(verifierOfSeed('witness.example/w3', new Uint8Array(32).fill(7), NOTE_COSIGNATURE_V1))}@https://w3.example`,
  );
  /** A witness that answers every offer with a 409 of this content type and body. */
  const answering409 = (contentType: string | null, body: string) =>
    new WitnessClient(endpoint!, {
      oldSize: 5,
      fetch: async () =>
        new Response(body, {
          status: 409,
          headers: contentType ? { 'content-type': contentType } : {},
        }),
    });
  const checkpoint = (treeSize: number) => ({ treeSize, note: `log.example\n${treeSize}\n` });
  const prove = async () => [new Uint8Array(32)];
  const codeOf = (offer: Promise<unknown>) =>
    offer.then(
      () => 'cosigned',
      (error: unknown) => (error instanceof WitnessError ? error.code : String(error)),
    );

  it('without its size is another root only for an offer of the size it holds; to any other, a broken answer', async () => {
    expect(await codeOf(answering409(null, '').addCheckpoint(checkpoint(5), prove))).toBe(
      'conflicting_root',
    );
    for (const [type, body] of [
      [null, ''],
      ['text/x.tlog.size', ''],
      ['text/plain', '3\n'],
    ] as const)
      expect(await codeOf(answering409(type, body).addCheckpoint(checkpoint(8), prove))).toBe(
        'unexpected_status',
      );
    expect(
      await codeOf(answering409('text/x.tlog.size', '12\n').addCheckpoint(checkpoint(8), prove)),
    ).toBe('witness_ahead');
  });
});

describe('a witness’s answer', () => {
  const [endpoint] = parseWitnessList(
    `${formatVerifierKey(verifierOfSeed('witness.example/w4', new Uint8Array(32).fill(9), NOTE_COSIGNATURE_V1))}@https://w4.example`,
  );
  const checkpoint = { treeSize: 8, note: 'log.example\n8\n' };
  const prove = async () => [new Uint8Array(32)];
  const codeOf = (offer: Promise<unknown>) =>
    offer.then(
      () => 'cosigned',
      (error: unknown) => (error instanceof WitnessError ? error.code : String(error)),
    );

  it('is read to 64 KiB at most: a body that never ends is refused, the rest never read', async () => {
    let sent = 0;
    let cancelled = false;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        sent += 1;
        controller.enqueue(new Uint8Array(16 * 1024).fill(0x61));
      },
      cancel() {
        cancelled = true;
      },
    });
    const client = new WitnessClient(endpoint!, {
      fetch: async () => new Response(endless, { status: 200 }),
    });
    expect(await codeOf(client.addCheckpoint(checkpoint, prove))).toBe('unexpected_status');
    expect(cancelled).toBe(true);
    expect(sent).toBeLessThanOrEqual(8);
    // One that says its length up front is refused without reading it.
    const declared = new WitnessClient(endpoint!, {
      fetch: async () =>
        new Response('x', { status: 200, headers: { 'content-length': String(1 << 30) } }),
    });
    expect(await codeOf(declared.addCheckpoint(checkpoint, prove))).toBe('unexpected_status');
  });

  it('not in UTF-8 is an answer it could not read, not an unreachable witness', async () => {
    const client = new WitnessClient(endpoint!, {
      fetch: async () => new Response(new Uint8Array([0xff, 0xfe, 0x0a]), { status: 200 }),
    });
    expect(await codeOf(client.addCheckpoint(checkpoint, prove))).toBe('unexpected_status');
  });

  it('is not waited for once the client is aborted (the service stopping)', async () => {
    const client = new WitnessClient(endpoint!, {
      timeoutMs: 60_000,
      fetch: (_url, init) =>
        new Promise((_resolve, reject) =>
          init!.signal!.addEventListener('abort', () => reject(new Error('aborted'))),
        ),
    });
    const offer = codeOf(client.addCheckpoint(checkpoint, prove));
    const began = performance.now();
    client.abort();
    expect(await offer).toBe('unreachable');
    expect(performance.now() - began).toBeLessThan(1_000);
  });
});

describe('a cosignature’s time', () => {
  it('past what a date holds is refused as a bad cosignature, not a crash later', () => {
    const seed = new Uint8Array(32).fill(11);
    const witness = verifierOfSeed('witness.example/t', seed, NOTE_COSIGNATURE_V1);
    const checkpoint = { treeSize: 3, note: 'log.example\n3\nAAAA\n\n— log.example AAAAAAAA\n' };
    const text = 'log.example\n3\nAAAA\n';
    const at = (timestamp: number) =>
      cosignatureOf(witness, checkpoint, cosignNoteLine(text, witness.name, seed, timestamp));
    expect(at(1_764_000_000).timestamp).toBe(1_764_000_000);
    expect(at(8.64e12).timestamp).toBe(8.64e12);
    expect(() => at(2 ** 52)).toThrow('at no possible time');
  });
});
