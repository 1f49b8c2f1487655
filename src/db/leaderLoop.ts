import type { Logger } from '../log/logger.ts';
import type { LeaderLock } from './leaderLock.ts';

/**
 * A background worker's loop: on the node holding the workers' leader lock, `work` runs every
 * `pollMs` or as soon as `wake` is called; elsewhere it only keeps asking for the lock. A failed
 * round is logged and tried again at the next one.
 */
export class LeaderLoop {
  private running = false;
  private loop: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private wakeUp: (() => void) | undefined;
  /** A wake-up that came while `work` ran: the next round starts at once instead of after pollMs. */
  private woken = false;

  constructor(
    private readonly deps: { leader: LeaderLock; logger: Logger },
    private readonly options: { pollMs: number; failure: string },
    private readonly work: () => Promise<void>,
  ) {}

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.wakeUp?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      this.woken = false;
      if (await this.deps.leader.tryAcquire()) {
        await this.work().catch((error: unknown) =>
          this.deps.logger.error({ err: error }, this.options.failure),
        );
        if (this.woken) continue;
      }
      await new Promise<void>((resolve) => {
        this.wakeUp = resolve;
        this.timer = setTimeout(resolve, this.options.pollMs);
      });
    }
  }
}
