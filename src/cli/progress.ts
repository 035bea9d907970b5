import cliProgress from 'cli-progress';

/** Progress of long work: how much of how much is done. */
export interface Progress {
  update(done: number, total: number): void;
  stop(): void;
}

const silent: Progress = { update: () => {}, stop: () => {} };

/**
 * A progress bar (cli-progress) on `stream` when the user watches a terminal (`enabled`: stdout is
 * a TTY and the output is not meant for a program); nothing otherwise, so piped output and `--json`
 * stay clean.
 */
export function progressBar(options: {
  label: string;
  enabled: boolean;
  stream?: NodeJS.WritableStream;
}): Progress {
  if (!options.enabled) return silent;
  const bar = new cliProgress.SingleBar(
    {
      format: `${options.label} [{bar}] {percentage}% | {value}/{total} | ETA {eta_formatted}`,
      stream: options.stream ?? process.stderr,
      hideCursor: true,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(done, total) {
      if (!started) {
        bar.start(total, done);
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(done);
      }
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
