import type { ServerResponse } from 'node:http';
import type { Context } from 'hono';
import type { AppEnv } from './env';
import { loggableError } from '../shared/loggable-error';

/**
 * The body of a streamed answer (a batch's export, its label PDF, an import's report), guarded.
 *
 * Its first chunk is read before the answer is made, so a source that fails at once (the database
 * gone) is answered like any other request: 503 problem+json. Once the 200 and some bytes are sent,
 * a failing source can only cut the answer. @hono/node-server would then end the body cleanly with
 * `Error: <message>` as its last bytes (a failed query's SQL and parameters, at the end of what
 * looks like a whole export) and print the error, stack and SQL, to stderr. Here instead the
 * connection is destroyed without the chunked terminator, so the client sees a truncated body as
 * after any dropped connection, and the failure is one log line without SQL. Outside Node's server
 * (`app.request` in tests) the stream errors instead.
 */
export async function streamedBody(
  c: Context<AppEnv>,
  source: ReadableStream<Uint8Array>,
): Promise<ReadableStream<Uint8Array>> {
  const reader = source.getReader();
  let first: ReadableStreamReadResult<Uint8Array> | undefined = await reader.read();
  const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
  const logger = c.get('logger');
  const requestId = c.get('requestId');
  let failed = false;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        // After a failure nothing more is read: the cut connection cancels this stream.
        if (failed) return new Promise<void>(() => {});
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = first ?? (await reader.read());
          first = undefined;
        } catch (error) {
          failed = true;
          logger?.warn(
            { req: requestId, err: loggableError(error) },
            'streamed answer cut: its source failed',
          );
          if (!outgoing) throw error;
          outgoing.destroy();
          return new Promise<void>(() => {});
        }
        if (chunk.done) controller.close();
        else controller.enqueue(chunk.value);
      },
      cancel(reason) {
        return reader.cancel(reason).catch(() => {});
      },
    },
    { highWaterMark: 0 },
  );
}
