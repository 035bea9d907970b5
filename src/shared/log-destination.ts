import SonicBoom from 'sonic-boom';

/** Lines waiting for a log reader that does not keep up, at most; past it new lines are dropped. */
const MAX_WAITING_BYTES = 16 * 1024 * 1024;
/** At exit, what is still waiting is written for at most this long. */
const EXIT_FLUSH_MS = 1_000;

export interface LogDestination {
  /** What the logger writes to. */
  readonly stream: SonicBoom;
  /**
   * Resolves once every line written so far has reached the reader (the dropped-lines count a
   * reader that caught up is owed included), or after a second (as the exit flush), or `withinMs`
   * if sooner: what an orderly stop waits for before exiting, so that a line half-written to a
   * pipe that was full is finished, not cut in two (the exit flush skips a write in progress).
   */
  settle(withinMs: number): Promise<void>;
  /** Writes what is waiting, giving up after a second (for process 'exit'). */
  flushAtExit(): void;
}

/**
 * Where the service's log lines go: stdout, written asynchronously, so that a log reader that
 * stalls (a full pipe) never holds up an answer. What waits for it is bounded (16 MiB, then lines
 * are dropped, and how many is said in one line once it reads again), and at exit what is waiting
 * is written for at most a second: a reader that no longer reads cannot keep the process from
 * ending. (pino's own exit flush retried EAGAIN every 100 ms for as long as the pipe stayed full:
 * a stopped service never exited.)
 */
export function logDestination(
  onDropped: (lines: number) => void,
  options: { fd?: number; maxWaitingBytes?: number; exitFlushMs?: number } = {},
): LogDestination {
  const exitFlushMs = options.exitFlushMs ?? EXIT_FLUSH_MS;
  let giveUpAt = Number.POSITIVE_INFINITY;
  let dropped = 0;
  const stream = new SonicBoom({
    // Reading process.stdout makes a pipe on fd 1 non-blocking (as pino's default did): a write to a
    // full blocking pipe would wait in the kernel, never answering EAGAIN, and nothing could give up.
    fd: options.fd ?? process.stdout.fd ?? 1,
    sync: false,
    maxLength: options.maxWaitingBytes ?? MAX_WAITING_BYTES,
    retryEAGAIN: () => Date.now() < giveUpAt,
  });
  // Bytes given to the stream and neither written nor dropped yet (sonic-boom does not say).
  let pending = 0;
  const write = stream.write.bind(stream);
  stream.write = (data: string) => {
    pending += Buffer.byteLength(data);
    return write(data);
  };
  stream.on('write', (bytes: number) => (pending -= bytes));
  stream.on('drop', (data: string) => {
    pending -= Buffer.byteLength(data);
    dropped += 1;
  });
  stream.on('drain', () => {
    if (dropped === 0) return;
    const lines = dropped;
    dropped = 0;
    onDropped(lines);
  });
  // A reader that has gone (EPIPE): nothing more is written, and nothing waits for it.
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') return;
    Object.assign(stream, { write: () => true, flushSync: () => {}, end: () => {} });
    pending = 0;
    dropped = 0;
    stream.emit('drain');
  });
  return {
    stream,
    settle(withinMs) {
      if (pending <= 0 && dropped === 0) return Promise.resolve();
      const ms = Math.min(withinMs, exitFlushMs);
      return new Promise((resolve) => {
        const done = () => {
          clearTimeout(timer);
          stream.off('drain', check);
          resolve();
        };
        // 'drain' comes when the stream has written all it holds; the dropped count it then
        // logs is one more line, waited for the same way.
        const check = () => setImmediate(() => pending <= 0 && dropped === 0 && done());
        const timer = setTimeout(done, ms);
        stream.on('drain', check);
      });
    },
    flushAtExit() {
      giveUpAt = Date.now() + exitFlushMs;
      try {
        stream.flushSync();
      } catch {
        // Still full, or gone: the exit goes on without the rest.
      }
    },
  };
}
