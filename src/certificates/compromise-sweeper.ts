import type { Logger } from 'pino';
import { loggableError } from '../shared/loggable-error';
import type { CertificatesService } from './certificates.service';

/** How often every instance looks for credentials a compromise left to sign again. */
export const COMPROMISE_SWEEP_INTERVAL_MS = 30_000;

/**
 * Signing again what a key compromise left behind, on every instance: at start and then every
 * `intervalMs`, credentials still signed with a key declared compromised are signed with their
 * issuer's current key (CertificatesService.resignAllCompromised). The instance that took the
 * compromise does it at once; should it die or give up meanwhile, any instance still running
 * takes it up at its next look, not only a next start (an outside probe killed the signing
 * instance: 3,001 credentials of the compromised key were served for as long as the other ran).
 * A look is one index probe per compromised key; instances sweeping together share the rows (each
 * skips those another holds).
 */
export class CompromiseSweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly stopping = new AbortController();

  constructor(
    private readonly options: {
      certificates: Pick<CertificatesService, 'resignAllCompromised'>;
      logger?: Logger | undefined;
      intervalMs?: number;
    },
  ) {}

  /** Looks now and then every `intervalMs` until {@link stop}. */
  start(): void {
    this.sweep();
    this.timer = setInterval(
      () => this.sweep(),
      this.options.intervalMs ?? COMPROMISE_SWEEP_INTERVAL_MS,
    );
    this.timer.unref();
  }

  /** Stops looking; a sweep in progress ends after the page it is writing. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.stopping.abort();
    await this.running;
  }

  private sweep(): void {
    const { certificates, logger } = this.options;
    if (this.stopping.signal.aborted) return;
    this.running ??= certificates
      .resignAllCompromised({
        signal: this.stopping.signal,
        onGiveUp: (left, error, issuerId) =>
          logger?.warn(
            { ...(error ? { err: loggableError(error) } : { left }), issuerId },
            'credentials of a compromised key are left to sign again; retried at the next look',
          ),
      })
      .then((resigned) => {
        if (resigned > 0)
          logger?.info({ resigned }, 'credentials of compromised keys signed again');
      })
      .catch((error: unknown) =>
        logger?.warn(
          { err: loggableError(error) },
          'signing compromised credentials again failed; retried at the next look',
        ),
      )
      .finally(() => {
        this.running = undefined;
      });
  }
}
