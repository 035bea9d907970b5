import SonicBoom from 'sonic-boom';

/** Lines waiting for a log reader that does not keep up, at most; past it new lines are dropped. */
const MAX_WAITING_BYTES = 16 * 1024 * 1024;
/** At exit, what is still waiting is written for at most this long. */
const EXIT_FLUSH_MS = 1_000;

export interface LogDestination {
  /** What the logger writes to. */
  readonly stream: SonicBoom;
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
  stream.on('drop', () => (dropped += 1));
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
  });
  return {
    stream,
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
