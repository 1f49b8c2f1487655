import { Gauge, Histogram, type Registry } from 'prom-client';
import { type DatabasePool, type DatabaseTransactionConnection, sql } from 'slonik';
import type { EventStore, RecordedEvent, Subscription } from '../eventstore/eventStore.ts';
import type { Logger } from '../log/logger.ts';
import type { ConversationDelta, DeltaBus } from '../realtime/delta.ts';
import { createProjectionTables, type Projection, type ProjectionTables } from './projection.ts';
import { ProjectionLag } from './projectionLag.ts';

/**
 * The most events one batch takes. A batch is what the subscription already holds: one event alone on
 * the live path (applied at once), up to a whole page of the store's reads behind a backlog.
 */
const defaultMaxBatch = 1000;
/** Positions remembered as applied, for waiters that arrive after their event was applied. */
const recentlyAppliedLimit = 50_000;
/** A parked projection retries its batch after 1 s, then twice as long each time, up to a minute. */
const firstRetryMs = 1000;
const maxRetryMs = 60_000;
/** The lag gauge counts pending events up to this many. */
const lagCountLimit = 100_000;

export type ProjectionRunnerOptions = {
  /** Where deltas go once their batch has committed. */
  bus?: DeltaBus;
  metricsRegistry?: Registry;
  /** /readyz reports not ready while a projection is further behind than this. */
  readyLagSeconds?: number;
  /** How often each projection's lag is measured. */
  lagProbeMs?: number;
  /** The most events applied in one transaction. */
  maxBatch?: number;
};

export type Parked = {
  /** The event that failed (or, for a version mismatch, the checkpoint). */
  position: bigint;
  error: string;
  /** False when only an operator can help (a replay, a newer deployment): it is not retried. */
  retrying: boolean;
};

type Waiter = { resolve: () => void; timer: NodeJS.Timeout };

type Running = {
  projection: Projection;
  tables: ProjectionTables;
  /** The checkpoint as this runner last saw it: its own last batch or one another node applied. */
  known: bigint;
  applied: Set<bigint>;
  waiters: Map<bigint, Waiter[]>;
  lag: ProjectionLag;
};

/** The checkpoint names another version than this code's: its tables are not the ones it writes. */
class VersionMismatch extends Error {}
/** A projection's applyBatch threw on this event (applied alone). */
class ApplyFailed extends Error {
  constructor(
    readonly position: bigint,
    override readonly cause: unknown,
  ) {
    super(String(cause));
  }
}

/**
 * Runs projections: each follows `$all` from its checkpoint, filtered to its event types, and
 * applies every batch of events together with its new checkpoint in one transaction, then publishes
 * the batch's deltas. After a crash it resumes after the last committed event: nothing applied
 * twice, nothing missed.
 *
 * Several nodes may run the same projections: each batch first locks the projection's checkpoint
 * row and applies only the events past it, so an event another node has applied is skipped (and its
 * deltas were published by that node). A projection that throws is parked on that event — visible in
 * /readyz, /metrics and the logs — and retries with backoff, so it resumes once the cause is fixed.
 *
 * Read-your-writes: a command handler passes the position of the event it appended to `waitFor`,
 * which resolves once every projection that handles that event type has applied it.
 */
export class ProjectionRunner {
  private readonly subscriptions: Subscription[] = [];
  private readonly running: Promise<void>[] = [];
  private readonly states = new Map<string, Running>();
  readonly parked = new Map<string, Parked>();
  private readonly listeners: ((projection: string, batch: readonly RecordedEvent[]) => void)[] = [];
  private stopping = false;
  private readonly wakeSleepers = new Set<() => void>();
  private lagTimer: NodeJS.Timeout | undefined;
  private probingLag = false;
  private readonly maxBatch: number;
  private batchMetrics: { events: Histogram; seconds: Histogram } | undefined;

  constructor(
    private readonly store: EventStore,
    private readonly pool: DatabasePool,
    private readonly projections: Projection[],
    private readonly logger: Logger,
    private readonly options: ProjectionRunnerOptions = {},
  ) {
    this.maxBatch = options.maxBatch ?? defaultMaxBatch;
    if (options.metricsRegistry) this.registerMetrics(options.metricsRegistry);
  }

  async start(): Promise<void> {
    for (const projection of this.projections) {
      const state: Running = {
        projection,
        tables: tableIdentifiers(projection.tables),
        known: 0n,
        applied: new Set(),
        waiters: new Map(),
        lag: new ProjectionLag(),
      };
      this.states.set(projection.name, state);
      const checkpoint = await this.prepare(state);
      if (checkpoint === null) continue;
      state.known = checkpoint;
      const subscription = this.store.subscribeToAll({
        after: checkpoint === 0n ? undefined : checkpoint,
        filter: { eventTypes: projection.eventTypes },
        batchSize: this.maxBatch,
      });
      this.subscriptions.push(subscription);
      this.running.push(this.run(state, subscription));
    }
    this.lagTimer = setInterval(() => void this.measureLag(), this.options.lagProbeMs ?? 5000);
    this.lagTimer.unref();
  }

  /**
   * Resolves when every projection handling `eventType` has applied the event at `position`, or
   * after `timeoutMs` (the answer is then served from a read model that may lag; never an error).
   */
  waitFor(position: bigint, eventType: string, timeoutMs = 5000): Promise<void> {
    const pending = [...this.states.values()]
      .filter((state) => state.projection.eventTypes.includes(eventType))
      .map((state) => waitOn(state, position, timeoutMs));
    return Promise.all(pending).then(() => undefined);
  }

  /** The same for one projection: resolves once `name` has applied the event at `position`. */
  waitForProjection(name: string, position: bigint, timeoutMs = 5000): Promise<void> {
    const state = this.states.get(name);
    return state ? waitOn(state, position, timeoutMs) : Promise.resolve();
  }

  /** Called after each batch a projection commits (caches to drop, workers to wake). */
  onApplied(listener: (projection: string, batch: readonly RecordedEvent[]) => void): void {
    this.listeners.push(listener);
  }

  /** For /readyz: not ready while a projection is parked or further behind than the bound. */
  health(): { ok: boolean; detail?: string } {
    const problems = [...this.parked].map(([name, { position }]) => `${name} parked at position ${position}`);
    const bound = this.options.readyLagSeconds;
    if (bound !== undefined) {
      for (const [name, { lag }] of this.states) {
        const seconds = lag.seconds(Date.now());
        if (seconds > bound) problems.push(`${name} ${Math.round(seconds)} s behind`);
      }
    }
    return problems.length === 0 ? { ok: true } : { ok: false, detail: problems.join(', ') };
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.lagTimer);
    for (const wake of this.wakeSleepers) wake();
    await Promise.all(this.subscriptions.map((subscription) => subscription.close()));
    await Promise.all(this.running);
  }

  /**
   * Makes sure the projection's checkpoint row and tables exist (creating them on first start) and
   * that they hold this code's version. Returns the checkpoint, or null when the projection is parked.
   */
  private async prepare(state: Running): Promise<bigint | null> {
    const { projection } = state;
    try {
      const { version, position } = await this.pool.transaction(async (tx) => {
        // Two nodes starting together: one creates, the other finds.
        await tx.query(
          sql.unsafe`SELECT pg_advisory_xact_lock(hashtext(${`projection:${projection.name}`}))`,
        );
        const row = await readCheckpoint(tx, projection.name, false);
        if (row) return row;
        await this.createTablesIfMissing(tx, state);
        await tx.query(sql.unsafe`
          INSERT INTO projection.checkpoints (name, version, position)
          VALUES (${projection.name}, ${projection.version}, 0)`);
        return { version: projection.version, position: 0n };
      });
      if (version !== projection.version) throw versionMismatch(projection, version);
      return position;
    } catch (error) {
      const retrying = !(error instanceof VersionMismatch);
      this.park(projection.name, { position: 0n, error: String(error), retrying });
      if (retrying) throw error;
      return null;
    }
  }

  private async createTablesIfMissing(tx: DatabaseTransactionConnection, state: Running): Promise<void> {
    const names = Object.values(state.projection.tables);
    const present = await tx.oneFirst(sql.unsafe`
      SELECT count(to_regclass(name)) FROM unnest(${sql.array(names, 'text')}) name`);
    if (Number(present) === names.length) return;
    if (Number(present) > 0) {
      throw new Error(`${state.projection.name}: some of its tables (${names.join(', ')}) are missing`);
    }
    await createProjectionTables(tx, state.projection, state.tables);
  }

  private async run(state: Running, subscription: Subscription): Promise<void> {
    const iterator = subscription[Symbol.asyncIterator]();
    let next = iterator.next();
    try {
      for (;;) {
        const first = await next;
        if (first.done) return;
        state.lag.took(first.value.recordedAt.getTime());
        // 1. Gather what is already available, up to a batch, without waiting for more.
        const batch: RecordedEvent[] = [first.value];
        next = iterator.next();
        while (batch.length < this.maxBatch) {
          const more = await Promise.race([next, afterPendingCallbacks()]);
          if (more === notYet || more.done) break;
          batch.push(more.value);
          next = iterator.next();
        }
        // 2. Apply the batch and move the checkpoint in one transaction (again and again if parked).
        const deltas = await this.applyUntilDone(state, batch);
        if (deltas === null) return;
        // 3. Only after commit: publish deltas, wake the read-your-writes waiters and the listeners.
        const projectedAt = Date.now();
        for (const { hops } of deltas) if (hops) hops.projectedAt = projectedAt;
        this.options.bus?.publish(deltas);
        this.markApplied(state, batch);
        for (const listener of this.listeners) listener(state.projection.name, batch);
      }
    } catch (error) {
      this.logger.error({ err: error, projection: state.projection.name }, 'projection stopped');
    }
  }

  /**
   * The batch's deltas once it is applied; null when the runner stops or the version changed. A batch
   * that fails is applied again at once one event at a time, in one transaction, so that a failing
   * event is named and parked on; while parked, every retry goes one event at a time.
   */
  private async applyUntilDone(state: Running, batch: RecordedEvent[]): Promise<ConversationDelta[] | null> {
    const name = state.projection.name;
    let delay = firstRetryMs;
    let oneByOne = false;
    for (;;) {
      try {
        const deltas = await this.applyBatch(state, batch, oneByOne);
        if (this.parked.delete(name)) this.logger.info({ projection: name }, 'projection resumed');
        return deltas;
      } catch (error) {
        if (error instanceof VersionMismatch) {
          this.park(name, { position: state.known, error: error.message, retrying: false });
          return null;
        }
        if (!oneByOne && batch.length > 1) {
          oneByOne = true;
          continue;
        }
        const position = error instanceof ApplyFailed ? error.position : (batch[0]?.position ?? 0n);
        const cause = error instanceof ApplyFailed ? error.cause : error;
        this.park(name, { position, error: String(cause), retrying: true });
        this.logger.error(
          { err: cause, projection: name, position: String(position), retryInMs: delay },
          'projection parked',
        );
        if (!(await this.sleep(delay))) return null;
        delay = Math.min(delay * 2, maxRetryMs);
      }
    }
  }

  private async applyBatch(
    state: Running,
    batch: RecordedEvent[],
    oneByOne: boolean,
  ): Promise<ConversationDelta[]> {
    const { projection } = state;
    const deltas: ConversationDelta[] = [];
    const last = batch.at(-1);
    if (!last) return deltas;
    const started = performance.now();
    let applied = 0;
    await this.pool.transaction(async (tx) => {
      deltas.length = 0;
      const stored = await readCheckpoint(tx, projection.name, true);
      if (!stored || stored.version !== projection.version) {
        throw versionMismatch(projection, stored?.version ?? null);
      }
      const pending = eventsPast(stored.position, state.known, batch);
      const context = { tables: state.tables, publish: (delta: ConversationDelta) => deltas.push(delta) };
      if (!oneByOne) {
        if (pending.length > 0) await projection.applyBatch(tx, pending, context);
      } else {
        for (const event of pending) {
          try {
            await projection.applyBatch(tx, [event], context);
          } catch (error) {
            throw new ApplyFailed(event.position, error);
          }
        }
      }
      applied = pending.length;
      if (pending.length > 0) {
        await tx.query(sql.unsafe`
          UPDATE projection.checkpoints SET position = ${String(last.position)}, updated_at = now()
           WHERE name = ${projection.name}`);
      }
    });
    state.known = last.position;
    state.lag.committed(batch.length);
    if (applied > 0) {
      const labels = { projection: projection.name };
      this.batchMetrics?.events.observe(labels, applied);
      this.batchMetrics?.seconds.observe(labels, (performance.now() - started) / 1000);
    }
    return deltas;
  }

  private park(name: string, parked: Parked): void {
    this.parked.set(name, parked);
    if (!parked.retrying) this.logger.error({ projection: name, reason: parked.error }, 'projection stopped');
  }

  /** Sleeps unless the runner stops first; false when it stopped. */
  private sleep(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.wakeSleepers.delete(wake);
        resolve(!this.stopping);
      };
      const timer = setTimeout(wake, ms);
      this.wakeSleepers.add(wake);
    });
  }

  private markApplied(state: Running, batch: RecordedEvent[]): void {
    const { applied, waiters } = state;
    for (const event of batch) {
      applied.add(event.position);
      for (const waiter of waiters.get(event.position) ?? []) {
        clearTimeout(waiter.timer);
        waiter.resolve();
      }
      waiters.delete(event.position);
    }
    if (applied.size > recentlyAppliedLimit) {
      // Sets iterate in insertion order: drop the oldest half.
      let drop = applied.size / 2;
      for (const position of applied) {
        if (drop-- <= 0) break;
        applied.delete(position);
      }
    }
  }

  /**
   * The probe of ProjectionLag: the events after the checkpoint (counted up to a limit) and the oldest
   * one. One at a time, so a slow store is not asked again before it answered.
   */
  private async measureLag(): Promise<void> {
    if (this.probingLag) return;
    this.probingLag = true;
    for (const state of this.states.values()) {
      try {
        const began = state.lag.probing();
        const filter = { eventTypes: state.projection.eventTypes };
        const after = state.known === 0n ? undefined : state.known;
        const [oldest] = await this.store.readAll({ ...(after ? { after } : {}), filter, maxCount: 1 });
        const events = oldest ? ((await this.store.countAfter?.(after, filter, lagCountLimit)) ?? 1) : 0;
        state.lag.probed(began, { events, oldest: oldest?.recordedAt.getTime() });
      } catch (error) {
        this.logger.warn({ err: error, projection: state.projection.name }, 'projection lag not measured');
      }
    }
    this.probingLag = false;
  }

  private registerMetrics(registry: Registry): void {
    this.batchMetrics = {
      events: new Histogram({
        name: 'projection_batch_events',
        help: 'events each projection applied in one transaction (1 on the live path, more behind a backlog)',
        labelNames: ['projection'],
        buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000],
        registers: [registry],
      }),
      seconds: new Histogram({
        name: 'projection_batch_seconds',
        help: 'time each projection took to apply a batch and commit it with its checkpoint',
        labelNames: ['projection'],
        buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5],
        registers: [registry],
      }),
    };
    const states = () => [...this.states.values()];
    new Gauge({
      name: 'projection_lag_events',
      help: `events after each projection's checkpoint still to apply (counted up to ${lagCountLimit})`,
      labelNames: ['projection'],
      registers: [registry],
      collect() {
        for (const { projection, lag } of states()) this.set({ projection: projection.name }, lag.events);
      },
    });
    new Gauge({
      name: 'projection_lag_seconds',
      help: 'age of the oldest event each projection has still to apply (0 when caught up)',
      labelNames: ['projection'],
      registers: [registry],
      collect() {
        const now = Date.now();
        for (const { projection, lag } of states())
          this.set({ projection: projection.name }, lag.seconds(now));
      },
    });
    const parked = this.parked;
    new Gauge({
      name: 'projection_parked',
      help: '1 while a projection is parked on an event it cannot apply (see the logs), else 0',
      labelNames: ['projection'],
      registers: [registry],
      collect() {
        for (const { projection } of states()) {
          this.set({ projection: projection.name }, parked.has(projection.name) ? 1 : 0);
        }
      },
    });
  }
}

function waitOn(state: Running, position: bigint, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    if (state.applied.has(position)) return resolve();
    const list = state.waiters.get(position) ?? [];
    const waiter: Waiter = {
      resolve,
      // On timeout the waiter leaves the list, so a stalled projection does not collect them.
      timer: setTimeout(() => {
        const remaining = (state.waiters.get(position) ?? []).filter((other) => other !== waiter);
        if (remaining.length > 0) state.waiters.set(position, remaining);
        else state.waiters.delete(position);
        resolve();
      }, timeoutMs),
    };
    waiter.timer.unref();
    list.push(waiter);
    state.waiters.set(position, list);
  });
}

/**
 * The events of `batch` that the stored checkpoint has not passed. The runner's batch follows the
 * checkpoint it `known`; if the stored one is that, everything is new; if it is an event of the batch,
 * another node applied up to there; otherwise another node is past the whole batch.
 */
export function eventsPast(stored: bigint, known: bigint, batch: readonly RecordedEvent[]): RecordedEvent[] {
  if (stored === known) return [...batch];
  const index = batch.findIndex((event) => event.position === stored);
  return index === -1 ? [] : batch.slice(index + 1);
}

async function readCheckpoint(
  tx: DatabaseTransactionConnection,
  name: string,
  forUpdate: boolean,
): Promise<{ version: number; position: bigint } | null> {
  const row = (await tx.maybeOne(sql.unsafe`
    SELECT version, position FROM projection.checkpoints WHERE name = ${name}
    ${forUpdate ? sql.fragment`FOR UPDATE` : sql.fragment``}`)) as {
    version: number;
    position: bigint;
  } | null;
  return row && { version: row.version, position: BigInt(row.position) };
}

function versionMismatch(projection: Projection, stored: number | null): VersionMismatch {
  return new VersionMismatch(
    stored !== null && stored < projection.version
      ? `${projection.name}: its tables hold version ${stored}, this code writes version ${projection.version}; run npm run replay -- ${projection.name}`
      : `${projection.name}: replaced by version ${stored} (this code writes ${projection.version}); a newer deployment owns it`,
  );
}

/** `rm.conversations` → the identifier `"rm"."conversations"`, for every table of a projection. */
export function tableIdentifiers(tables: Readonly<Record<string, string>>): ProjectionTables {
  return Object.fromEntries(
    Object.entries(tables).map(([logical, qualified]) => [logical, sql.identifier(qualified.split('.'))]),
  );
}

const notYet = Symbol('notYet');
/** Resolves after pending I/O callbacks: an event the subscription already holds has arrived by then. */
const afterPendingCallbacks = () =>
  new Promise<typeof notYet>((resolve) => setImmediate(() => resolve(notYet)));
