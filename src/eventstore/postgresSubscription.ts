import type { AppendSignal } from './appendSignal.ts';
import type { RecordedEvent, Subscription } from './eventStore.ts';
import type { AllCursor } from './postgresEventStore.ts';

/** Slow poll behind LISTEN/NOTIFY: bounds the delay when a wake-up is lost. */
const fallbackPollMs = 1000;
const lateWakeMs = 100;

type Source = {
  start: () => Promise<AllCursor>;
  read: (
    cursor: AllCursor,
    limit: number,
  ) => Promise<{ events: RecordedEvent[]; cursor: AllCursor; caughtUp: boolean }>;
  signal: AppendSignal;
  batchSize: number;
  /** Only appends of these types wake this subscription (all when absent). */
  eventTypes?: readonly string[];
};

/**
 * Catch-up then live: reads batches until caught up, then sleeps until an append wakes it (or the
 * fallback poll fires) and reads again. A wake-up that arrives while a batch is being read is not
 * lost: it is remembered and the subscriber reads once more before sleeping.
 */
export class PostgresSubscription implements Subscription {
  private closed = false;
  private woken = false;
  private wake: (() => void) | undefined;
  private lateWake: NodeJS.Timeout | undefined;
  private readonly unsubscribe: () => void;
  // One iteration per subscription: every caller of [Symbol.asyncIterator] shares it.
  private readonly events = this.run();

  constructor(private readonly source: Source) {
    const wanted = source.eventTypes ? new Set(source.eventTypes) : undefined;
    this.unsubscribe = source.signal.subscribe((types) => {
      if (!wanted || !types || [...types].some((type) => wanted.has(type))) {
        this.wakeNow();
        return;
      }
      // Appends of other types matter only when they were holding back the horizon over one of
      // ours (committed before them, at a higher transaction id): look, but at most every 100 ms.
      this.lateWake ??= setTimeout(() => {
        this.lateWake = undefined;
        this.wakeNow();
      }, lateWakeMs);
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<RecordedEvent> {
    return this.events;
  }

  private async *run(): AsyncGenerator<RecordedEvent> {
    try {
      let cursor = await this.source.start();
      while (!this.closed) {
        this.woken = false;
        const batch = await this.source.read(cursor, this.source.batchSize);
        for (const event of batch.events) {
          if (this.closed) return;
          yield event;
        }
        cursor = batch.cursor;
        if (batch.caughtUp && !this.woken) await this.sleep();
      }
    } finally {
      clearTimeout(this.lateWake);
      this.unsubscribe();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.lateWake);
    this.unsubscribe();
    this.wake?.();
  }

  private wakeNow(): void {
    this.woken = true;
    this.wake?.();
  }

  private sleep(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, fallbackPollMs);
      const self = this;
      function done() {
        clearTimeout(timer);
        self.wake = undefined;
        resolve();
      }
      this.wake = done;
    });
  }
}
