import { parseNote, verifyNoteSignature, type NoteVerifier } from '../crypto/signed-note';
import type { WitnessEndpoint } from './witness-config';
import { toBase64 } from '../crypto/base64';

/**
 * The log's side of C2SP tlog-witness `add-checkpoint`: sends a signed checkpoint with a consistency
 * proof from the size the witness last cosigned, and returns the witness's verified cosignature
 * (C2SP tlog-cosignature, Ed25519 cosignature/v1).
 */

/** tlog-witness: "The client MUST NOT send more than 63 consistency proof lines." */
export const MAX_PROOF_LINES = 63;
/**
 * A 409 with the witness's size is answered by resending from that size; a witness that keeps
 * moving (another instance of the log feeding it, or a misbehaving witness) is given up on after
 * this many resends in one call, and asked again later.
 */
export const MAX_SIZE_RESENDS = 3;
/** A cosignature line is ~150 bytes; a witness answering more than this is not answering one. */
const MAX_RESPONSE_BYTES = 64 * 1024;
/** The latest instant a Date holds (ECMA-262 §21.4.1.1), in seconds. */
const MAX_DATE_SECONDS = 8.64e12;

/**
 * Why a witness did not cosign. The statuses are tlog-witness's: `unknown_origin` (404, the
 * witness does not follow this log), `log_key_not_trusted` (403, none of the checkpoint's
 * signatures verify under the keys it has for the origin), `bad_request` (400, an old size above
 * the checkpoint size), `inconsistent` (422, the consistency proof does not verify against what the
 * witness holds: a rewritten history or a split view), `conflicting_root` (409 without a size: the
 * witness holds another root for this very size), `witness_ahead` (409 naming a size larger than
 * the checkpoint: the witness saw a larger tree of this log than the log has), `bad_cosignature`
 * (a 200 whose lines do not verify under the witness's key), `unreachable` (no answer in time),
 * `unexpected_status` (anything else).
 */
export type WitnessFailureCode =
  | 'unknown_origin'
  | 'log_key_not_trusted'
  | 'bad_request'
  | 'inconsistent'
  | 'conflicting_root'
  | 'witness_ahead'
  | 'too_many_resends'
  | 'bad_cosignature'
  | 'unreachable'
  | 'unexpected_status';

export class WitnessError extends Error {
  override readonly name = 'WitnessError';
  constructor(
    readonly code: WitnessFailureCode,
    message: string,
    /** `witness_ahead`: the size the witness's 409 named. */
    readonly witnessSize?: number,
  ) {
    super(message);
  }
}

/** Failures that say the log's history and the witness's disagree: evidence, not an outage. */
export const MISBEHAVIOUR_CODES: ReadonlySet<WitnessFailureCode> = new Set([
  'inconsistent',
  'conflicting_root',
  'witness_ahead',
]);

export interface SignedCheckpoint {
  treeSize: number;
  /** The log's signed note, as GET /log/checkpoint serves it without cosignatures. */
  note: string;
}

export interface Cosignature {
  treeSize: number;
  /** `— <name> base64(key ID ‖ timestamp ‖ signature)\n` */
  signatureLine: string;
  /** POSIX seconds, the cosignature's own timestamp. */
  timestamp: number;
}

/** Hashes proving that the tree of `from` leaves is a prefix of the tree of `to` leaves. */
export type ConsistencyProver = (from: number, to: number) => Promise<Uint8Array[]>;

export interface WitnessClientOptions {
  /** One request's limit, connection to last byte. */
  timeoutMs?: number;
  fetch?: typeof fetch;
  /** The size the witness is believed to have cosigned last (0: unknown, learnt from a 409). */
  oldSize?: number;
}

/**
 * The request body (tlog-witness "add-checkpoint"): `old <size>`, one base64 hash per line, an
 * empty line, then the checkpoint with its signatures. Every line ends in a newline.
 */
export function addCheckpointBody(
  oldSize: number,
  proof: readonly Uint8Array[],
  note: string,
): string {
  if (!Number.isSafeInteger(oldSize) || oldSize < 0) throw new RangeError('invalid old size');
  if (proof.length > MAX_PROOF_LINES) throw new RangeError('more than 63 proof hashes');
  if (oldSize === 0 && proof.length > 0) throw new RangeError('the proof from size 0 is empty');
  return `old ${oldSize}\n${proof.map((hash) => `${toBase64(hash)}\n`).join('')}\n${note}`;
}

/**
 * The witness's cosignature in a 200 answer: the body is one or more note signature lines; lines
 * of other keys are ignored (tlog-witness: "The client MUST ignore any cosignatures from unknown
 * keys"), a line of the witness's key that does not verify over the checkpoint fails the answer,
 * and at least one must verify.
 */
export function cosignatureOf(
  witness: NoteVerifier,
  checkpoint: SignedCheckpoint,
  body: string,
): Cosignature {
  if (body.length === 0 || !body.startsWith('\u2014') || !body.endsWith('\n')) {
    throw new WitnessError('bad_cosignature', 'the answer is not note signature lines');
  }
  let parsed;
  try {
    // The witness's lines join the checkpoint's own signature block (tlog-witness: the client "MAY
    // concatenate it to the checkpoint, and use a note verification function").
    parsed = parseNote(checkpoint.note + body);
  } catch (error) {
    throw new WitnessError('bad_cosignature', (error as Error).message);
  }
  let found: Cosignature | undefined;
  for (const line of parsed.signatures) {
    if (line.name !== witness.name || line.keyId !== witness.keyId) continue;
    const result = verifyNoteSignature(witness, parsed.text, line);
    if (!result.ok || result.timestamp === undefined) {
      throw new WitnessError('bad_cosignature', `a line of ${witness.name} does not verify`);
    }
    // A time past what a date can hold (year 275760) is no time a witness's clock read.
    if (result.timestamp > MAX_DATE_SECONDS) {
      throw new WitnessError('bad_cosignature', `${witness.name} cosigned at no possible time`);
    }
    found ??= {
      treeSize: checkpoint.treeSize,
      signatureLine: `\u2014 ${line.name} ${line.base64}\n`,
      timestamp: result.timestamp,
    };
  }
  if (!found) throw new WitnessError('bad_cosignature', `no cosignature of ${witness.name}`);
  return found;
}

/** One witness, as the log sees it: where to send checkpoints and the size it last cosigned. */
export class WitnessClient {
  readonly #endpoint: WitnessEndpoint;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;
  /** Requests waiting for their answer, each with its own controller (see abort). */
  readonly #inFlight = new Set<AbortController>();
  /** What we believe the witness's latest cosigned size is; corrected by its 409 answers. */
  oldSize: number;

  constructor(endpoint: WitnessEndpoint, options: WitnessClientOptions = {}) {
    this.#endpoint = endpoint;
    this.#fetch = options.fetch ?? fetch;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.oldSize = options.oldSize ?? 0;
  }

  get name(): string {
    return this.#endpoint.verifier.name;
  }

  /**
   * Sends `checkpoint` to the witness and returns its cosignature, or throws WitnessError.
   * A 409 with the witness's size (text/x.tlog.size) is answered at once by resending with a proof
   * from that size, as tlog-witness intends ("If a client doesn't have information on the latest
   * cosigned checkpoint, it MAY initially make a request with a old size of zero to obtain it").
   */
  async addCheckpoint(
    checkpoint: SignedCheckpoint,
    prove: ConsistencyProver,
  ): Promise<Cosignature> {
    for (let resends = 0; ; resends++) {
      const oldSize = Math.min(this.oldSize, checkpoint.treeSize);
      const proof =
        oldSize === 0 || oldSize === checkpoint.treeSize
          ? []
          : await prove(oldSize, checkpoint.treeSize);
      const { status, contentType, body } = await this.#post(
        addCheckpointBody(oldSize, proof, checkpoint.note),
      );
      switch (status) {
        case 200: {
          const cosignature = cosignatureOf(this.#endpoint.verifier, checkpoint, body);
          this.oldSize = checkpoint.treeSize;
          return cosignature;
        }
        case 409: {
          // "The response body MUST consist of the tree size of the latest cosigned checkpoint in
          // decimal, followed by a newline … a Content-Type of text/x.tlog.size." Without it, the
          // 409 is the other one, which only an offer of the witness's own size can get: same
          // size, another root. To any other offer it is a broken answer, not evidence.
          const media = contentType?.split(';')[0]!.trim().toLowerCase();
          const sizeLine = /^(0|[1-9][0-9]*)\n$/.exec(body);
          if (media !== 'text/x.tlog.size' || !sizeLine) {
            if (oldSize !== checkpoint.treeSize) {
              throw new WitnessError(
                'unexpected_status',
                `${this.name} answered 409 without the size it holds`,
              );
            }
            throw new WitnessError(
              'conflicting_root',
              `${this.name} holds another root for tree size ${oldSize}`,
            );
          }
          const witnessSize = Number(sizeLine[1]);
          if (!Number.isSafeInteger(witnessSize) || witnessSize > checkpoint.treeSize) {
            throw new WitnessError(
              'witness_ahead',
              `${this.name} has cosigned a tree of ${sizeLine[1]!.trim()} entries; the log has ${checkpoint.treeSize}`,
              Number.isSafeInteger(witnessSize) ? witnessSize : undefined,
            );
          }
          if (resends >= MAX_SIZE_RESENDS) {
            throw new WitnessError('too_many_resends', `${this.name} kept changing its size`);
          }
          this.oldSize = witnessSize;
          continue;
        }
        case 404:
          throw new WitnessError(
            'unknown_origin',
            `${this.name} does not follow this log's origin`,
          );
        case 403:
          throw new WitnessError(
            'log_key_not_trusted',
            `${this.name} does not trust the log's key`,
          );
        case 400:
          throw new WitnessError('bad_request', `${this.name} refused the request as malformed`);
        case 422:
          throw new WitnessError(
            'inconsistent',
            `${this.name} found the consistency proof from ${oldSize} to ${checkpoint.treeSize} invalid`,
          );
        default:
          throw new WitnessError('unexpected_status', `${this.name} answered ${status}`);
      }
    }
  }

  /** Aborts every request in flight (the service is stopping); later ones are sent as usual. */
  abort(): void {
    for (const request of this.#inFlight) request.abort(new Error('the service is stopping'));
  }

  async #post(body: string): Promise<{ status: number; contentType: string | null; body: string }> {
    // Its own controller, ended by its timeout or abort(), and forgotten after: a signal combined
    // with one that lives as long as the process stays registered on it (AbortSignal.any on Node
    // 20), a leak of every request ever sent.
    const request = new AbortController();
    const timer = setTimeout(
      () => request.abort(new Error(`no answer within ${this.#timeoutMs} ms`)),
      this.#timeoutMs,
    );
    this.#inFlight.add(request);
    try {
      let res: Response;
      try {
        res = await this.#fetch(`${this.#endpoint.submissionPrefix}/add-checkpoint`, {
          method: 'POST',
          headers: { 'content-type': 'text/plain; charset=utf-8' },
          body,
          signal: request.signal,
        });
      } catch (error) {
        throw new WitnessError('unreachable', `${this.name}: ${(error as Error).message}`);
      }
      return await this.#answerOf(res);
    } finally {
      clearTimeout(timer);
      this.#inFlight.delete(request);
    }
  }

  async #answerOf(
    res: Response,
  ): Promise<{ status: number; contentType: string | null; body: string }> {
    const bytes = await this.#readAtMost(res, MAX_RESPONSE_BYTES);
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      throw new WitnessError('unexpected_status', `${this.name} answered with a body not in UTF-8`);
    }
    return { status: res.status, contentType: res.headers.get('content-type'), body: text };
  }

  /**
   * The answer's body as it streams in, refused (and the rest never read) once it passes `limit`:
   * a witness that streams without end costs this process `limit` bytes, not gigabytes (an outside
   * probe: read whole first, one took the service to 3 GB).
   */
  async #readAtMost(res: Response, limit: number): Promise<Uint8Array> {
    const declared = Number(res.headers.get('content-length') ?? Number.NaN);
    if (declared > limit) {
      await res.body?.cancel().catch(() => {});
      throw new WitnessError('unexpected_status', `${this.name} answered too much`);
    }
    const chunks: Uint8Array[] = [];
    let length = 0;
    const reader = res.body?.getReader();
    if (!reader) return new Uint8Array(0);
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        length += value.byteLength;
        if (length > limit) {
          await reader.cancel().catch(() => {});
          throw new WitnessError('unexpected_status', `${this.name} answered too much`);
        }
        chunks.push(value);
      }
    } catch (error) {
      if (error instanceof WitnessError) throw error;
      throw new WitnessError('unreachable', `${this.name}: ${(error as Error).message}`);
    }
    return Buffer.concat(chunks, length);
  }
}
