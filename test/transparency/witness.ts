import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseCheckpointBody } from '../../src/audit/checkpoint-note';
import { verifyConsistency } from '../../src/crypto/merkle';
import {
  cosignNoteLine,
  formatVerifierKey,
  NOTE_COSIGNATURE_V1,
  openNote,
  verifierOfSeed,
  type NoteVerifier,
} from '../../src/crypto/signed-note';

/**
 * A small C2SP tlog-witness for tests: `POST <prefix>/add-checkpoint`, answered exactly as the spec
 * says a witness MUST, with Ed25519 cosignature/v1 cosignatures (tlog-cosignature). It keeps the
 * latest cosigned size and root per origin in memory.
 *
 * Atomicity (tlog-witness: "checking the old size against the latest checkpoint and persisting the
 * new checkpoint must be performed atomically"): the whole check-and-update runs synchronously
 * after the body has been read, with no await in between, so on Node's one thread no other request
 * can interleave; a test sending concurrent requests relies on it.
 */

export interface TestWitnessOptions {
  name: string;
  seed: Uint8Array;
  /** Trusted log keys per origin. */
  logs: Map<string, NoteVerifier[]>;
  /** Delay before answering each request, in ms (a slow witness). */
  delayMs?: number;
}

export interface TestWitness {
  /** The submission prefix. */
  url: string;
  /** `<name>+<key ID>+<base64(0x04 ‖ key)>`. */
  vkey: string;
  verifier: NoteVerifier;
  /** `<vkey>@<url>`, a WITNESSES entry. */
  entry: string;
  /** What it holds per origin. */
  state: Map<string, { size: number; root: Uint8Array }>;
  /** Status of every answer so far, in order. */
  answers: number[];
  /** Bodies of the requests it was sent, in order. */
  requests: string[];
  delayMs: number;
  /** While true, every request is held until the socket times out (a black hole). */
  blackHole: boolean;
  close(): Promise<void>;
}

const equal = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

/** Checks and cosigns one add-checkpoint body; synchronous by design (see above). */
function addCheckpoint(
  witness: TestWitness,
  options: TestWitnessOptions,
  body: string,
): { status: number; contentType?: string; body: string } {
  const refuse = (status: number, text = '') => ({ status, body: text });
  const split = body.indexOf('\n\n');
  if (split < 0) return refuse(400);
  const [oldLine, ...proofLines] = body.slice(0, split).split('\n');
  const old = /^old (0|[1-9][0-9]*)$/.exec(oldLine ?? '');
  if (!old || proofLines.length > 63) return refuse(400);
  const proof: Uint8Array[] = [];
  for (const line of proofLines) {
    const hash = Buffer.from(line, 'base64');
    if (hash.length !== 32 || hash.toString('base64') !== line) return refuse(400);
    proof.push(new Uint8Array(hash));
  }
  const note = body.slice(split + 2);
  let checkpoint: ReturnType<typeof parseCheckpointBody>;
  let text: string;
  try {
    text = note.slice(0, note.lastIndexOf('\n\n') + 1);
    checkpoint = parseCheckpointBody(text);
  } catch {
    return refuse(400);
  }
  // "If the checkpoint origin is unknown, the witness MUST respond with a 404 Not Found."
  const keys = options.logs.get(checkpoint.origin);
  if (!keys) return refuse(404);
  // "If none of the signatures verify against a trusted public key … 403 Forbidden."
  try {
    openNote(note, keys);
  } catch {
    return refuse(403);
  }
  const oldSize = Number(old[1]);
  // "The old size MUST be equal to or lower than the checkpoint size. Otherwise … 400."
  if (oldSize > checkpoint.size) return refuse(400);
  const held = witness.state.get(checkpoint.origin);
  const heldSize = held?.size ?? 0;
  // "… the old size matches the size of the latest checkpoint it cosigned … (or zero) … 409, the
  // tree size … in decimal, followed by a newline … Content-Type of text/x.tlog.size."
  if (oldSize !== heldSize) {
    return { status: 409, contentType: 'text/x.tlog.size', body: `${heldSize}\n` };
  }
  if (oldSize === 0) {
    // "The proof MUST be empty if the old size is zero."
    if (proof.length > 0) return refuse(422);
  } else if (oldSize === checkpoint.size) {
    // "If the old size matches the checkpoint size, … root hashes … If they don't match … 409."
    if (proof.length > 0) return refuse(422);
    if (!equal(held!.root, checkpoint.root)) return refuse(409);
  } else {
    try {
      verifyConsistency({
        size1: oldSize,
        size2: checkpoint.size,
        root1: held!.root,
        root2: checkpoint.root,
        proof,
      });
    } catch {
      return refuse(422);
    }
  }
  witness.state.set(checkpoint.origin, { size: checkpoint.size, root: checkpoint.root });
  return {
    status: 200,
    body: cosignNoteLine(text, options.name, options.seed, Math.floor(Date.now() / 1000)),
  };
}

/** Starts a witness on 127.0.0.1 (an ephemeral port). */
export async function startTestWitness(options: TestWitnessOptions): Promise<TestWitness> {
  const verifier = verifierOfSeed(options.name, options.seed, NOTE_COSIGNATURE_V1);
  const vkey = formatVerifierKey(verifier);
  const witness: TestWitness = {
    url: '',
    vkey,
    verifier,
    entry: '',
    state: new Map(),
    answers: [],
    requests: [],
    delayMs: options.delayMs ?? 0,
    blackHole: false,
    close: async () => {},
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (witness.blackHole) return; // never answered; the client's timeout ends it
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const answer = () => {
        if (req.method !== 'POST' || !req.url?.endsWith('/add-checkpoint')) {
          res.writeHead(404).end();
          return;
        }
        const body = Buffer.concat(chunks).toString('utf8');
        witness.requests.push(body);
        const result = addCheckpoint(witness, options, body);
        witness.answers.push(result.status);
        res
          .writeHead(result.status, {
            'content-type': result.contentType ?? 'text/plain; charset=utf-8',
          })
          .end(result.body);
      };
      if (witness.delayMs > 0) setTimeout(answer, witness.delayMs);
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  witness.url = `http://127.0.0.1:${port}/witness`;
  witness.entry = `${vkey}@${witness.url}`;
  witness.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return witness;
}
