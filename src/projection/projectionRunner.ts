import { type DatabasePool, sql } from 'slonik';
import type { EventStore, RecordedEvent, Subscription } from '../eventstore/eventStore.ts';
import type { Logger } from '../log/logger.ts';
import type { Projection } from './projection.ts';

const maxBatch = 200;
/** Positions remembered as applied, for waiters that arrive after their event was applied. */
const recentlyAppliedLimit = 50_000;

type Waiter = { resolve: () => void; timer: NodeJS.Timeout };

/**
 * Runs projections: each follows `$all` from its checkpoint, filtered to its event types, and
 * applies every batch of events together with its new checkpoint in one transaction. After a crash
 * it resumes after the last committed event: nothing applied twice, nothing missed.
 *
 * Read-your-writes: a command handler passes the position of the event it appended to
 * `waitFor`, which resolves once every projection that handles that event type has applied it.
 */
export class ProjectionRunner {
  private readonly subscriptions: Subscription[] = [];
  private readonly running: Promise<void>[] = [];
  private readonly applied = new Map<string, Set<bigint>>();
  private readonly waiters = new Map<string, Map<bigint, Waiter[]>>();
  readonly parked = new Map<string, { position: bigint; error: string }>();
  private readonly listeners: ((projection: string, batch: readonly RecordedEvent[]) => void)[] = [];

  constructor(
    private readonly store: EventStore,
    private readonly pool: DatabasePool,
    private readonly projections: Projection[],
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    for (const projection of this.projections) {
      this.applied.set(projection.name, new Set());
      this.waiters.set(projection.name, new Map());
      const checkpoint = await this.pool.maybeOneFirst(
        sql.unsafe`SELECT position FROM projection.checkpoints WHERE name = ${projection.name}`,
      );
      const subscription = this.store.subscribeToAll({
        after: (checkpoint as bigint | null) ?? undefined,
        filter: { eventTypes: projection.eventTypes },
      });
      this.subscriptions.push(subscription);
      this.running.push(this.run(projection, subscription));
    }
  }

  /**
   * Resolves when every projection handling `eventType` has applied the event at `position`, or
   * after `timeoutMs` (the answer is then served from a read model that may lag; never an error).
   */
  waitFor(position: bigint, eventType: string, timeoutMs = 5000): Promise<void> {
    const pending = this.projections
      .filter((projection) => projection.eventTypes.includes(eventType))
      .map(
        (projection) =>
          new Promise<void>((resolve) => {
            if (this.applied.get(projection.name)?.has(position)) return resolve();
            const waiters = this.waiters.get(projection.name);
            const list = waiters?.get(position) ?? [];
            const waiter: Waiter = {
              resolve,
              // On timeout the waiter leaves the list, so a stalled projection does not collect them.
              timer: setTimeout(() => {
                const remaining = (waiters?.get(position) ?? []).filter((other) => other !== waiter);
                if (remaining.length > 0) waiters?.set(position, remaining);
                else waiters?.delete(position);
                resolve();
              }, timeoutMs),
            };
            waiter.timer.unref();
            list.push(waiter);
            waiters?.set(position, list);
          }),
      );
    return Promise.all(pending).then(() => undefined);
  }

  /** Called after each batch a projection commits (caches to drop, workers to wake). */
  onApplied(listener: (projection: string, batch: readonly RecordedEvent[]) => void): void {
    this.listeners.push(listener);
  }

  /** For /readyz: not ready while a projection is parked (its read models no longer move). */
  health(): { ok: boolean; detail?: string } {
    if (this.parked.size === 0) return { ok: true };
    const names = [...this.parked].map(([name, { position }]) => `${name} at position ${position}`);
    return { ok: false, detail: `parked: ${names.join(', ')}` };
  }

  async stop(): Promise<void> {
    await Promise.all(this.subscriptions.map((subscription) => subscription.close()));
    await Promise.all(this.running);
  }

  private async run(projection: Projection, subscription: Subscription): Promise<void> {
    const iterator = subscription[Symbol.asyncIterator]();
    let next = iterator.next();
    try {
      for (;;) {
        const first = await next;
        if (first.done) return;
        // 1. Gather what is already available, up to a batch, without waiting for more.
        const batch: RecordedEvent[] = [first.value];
        next = iterator.next();
        while (batch.length < maxBatch) {
          const more = await Promise.race([next, afterPendingCallbacks()]);
          if (more === notYet || more.done) break;
          batch.push(more.value);
          next = iterator.next();
        }
        // 2. Apply the batch and move the checkpoint in one transaction.
        await this.applyBatch(projection, batch);
        // 3. Only after commit: wake the read-your-writes waiters.
        this.markApplied(projection.name, batch);
        for (const listener of this.listeners) listener(projection.name, batch);
      }
    } catch (error) {
      this.logger.error({ err: error, projection: projection.name }, 'projection stopped');
    }
  }

  private async applyBatch(projection: Projection, batch: RecordedEvent[]): Promise<void> {
    const last = batch.at(-1);
    if (!last) return;
    try {
      await this.pool.transaction(async (tx) => {
        for (const event of batch) await projection.apply(tx, event);
        await tx.query(sql.unsafe`
          INSERT INTO projection.checkpoints (name, version, position) VALUES (${projection.name}, ${projection.version}, ${String(last.position)})
          ON CONFLICT (name) DO UPDATE SET version = excluded.version, position = excluded.position, updated_at = now()`);
      });
    } catch (error) {
      // A projection must not throw on a recorded event: stop it where it is, visibly.
      this.parked.set(projection.name, { position: batch[0]?.position ?? 0n, error: String(error) });
      this.logger.error(
        { err: error, projection: projection.name, position: String(batch[0]?.position) },
        'projection parked',
      );
      throw error;
    }
  }

  private markApplied(name: string, batch: RecordedEvent[]): void {
    const applied = this.applied.get(name);
    const waiters = this.waiters.get(name);
    for (const event of batch) {
      applied?.add(event.position);
      for (const waiter of waiters?.get(event.position) ?? []) {
        clearTimeout(waiter.timer);
        waiter.resolve();
      }
      waiters?.delete(event.position);
    }
    if (applied && applied.size > recentlyAppliedLimit) {
      // Sets iterate in insertion order: drop the oldest half.
      let drop = applied.size / 2;
      for (const position of applied) {
        if (drop-- <= 0) break;
        applied.delete(position);
      }
    }
  }
}

const notYet = Symbol('notYet');
/** Resolves after pending I/O callbacks: an event the subscription already holds has arrived by then. */
const afterPendingCallbacks = () =>
  new Promise<typeof notYet>((resolve) => setImmediate(() => resolve(notYet)));
