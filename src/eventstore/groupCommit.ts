import { AppError } from '../errors/catalogue.ts';

/**
 * Group commit: appends that arrive while a batch is being written wait and go together in the next
 * one. One round trip and one WAL flush then carry many appends, which is what bounds a
 * one-event-per-transaction store. An idle committer writes a lone append at once, so latency
 * under light load is that of a single append.
 */
export type BatchOutcome<Result> = { ok: true; value: Result } | { ok: false; error: unknown };

type Pending<Item, Result> = {
  item: Item;
  resolve: (value: Result) => void;
  reject: (error: unknown) => void;
};

export class GroupCommitter<Item, Result> {
  private queue: Pending<Item, Result>[] = [];
  private inFlight = 0;

  constructor(
    /** Writes the batch and answers one outcome per item, in order. Throws when the whole batch failed. */
    private readonly write: (items: Item[]) => Promise<BatchOutcome<Result>[]>,
    private readonly maxBatch: number,
    private readonly maxInFlight: number,
    private readonly maxQueued = 20_000,
  ) {}

  submit(item: Item): Promise<Result> {
    // Bounded: when the database falls behind, callers get a retryable error instead of the
    // process growing a queue without limit.
    if (this.queue.length >= this.maxQueued) {
      return Promise.reject(
        new AppError('eventstore.unavailable', 'Too many appends waiting; retry shortly', [], {
          'retry-after': '1',
        }),
      );
    }
    return new Promise<Result>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.pump();
    });
  }

  get queued(): number {
    return this.queue.length;
  }

  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      this.inFlight += 1;
      void this.flush(batch).finally(() => {
        // The slot frees only after the callers this batch just answered have resubmitted (a few
        // microtasks later): the next batch then carries them all instead of the first alone.
        setImmediate(() => {
          this.inFlight -= 1;
          this.pump();
        });
      });
    }
  }

  private async flush(batch: Pending<Item, Result>[]): Promise<void> {
    let outcomes: BatchOutcome<Result>[];
    try {
      outcomes = await this.write(batch.map((pending) => pending.item));
    } catch (error) {
      // One bad append (say, an event id racing into another stream) must not fail its neighbours:
      // a failed batch is retried one append at a time, so each gets its own answer.
      if (batch.length > 1) {
        await Promise.all(batch.map((pending) => this.flush([pending])));
      } else {
        batch[0]?.reject(error);
      }
      return;
    }
    batch.forEach((pending, index) => {
      const outcome = outcomes[index];
      if (!outcome) pending.reject(new Error('group commit: no outcome for an append'));
      else if (outcome.ok) pending.resolve(outcome.value);
      else pending.reject(outcome.error);
    });
  }
}
