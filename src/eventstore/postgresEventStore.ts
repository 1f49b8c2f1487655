import type { Registry } from 'prom-client';
import { type DatabasePool, sql, UniqueIntegrityConstraintViolationError } from 'slonik';
import { AppError } from '../errors/catalogue.ts';
import { assertNever } from '../lang/assertNever.ts';
import type { Logger } from '../log/logger.ts';
import type { SchemaRegistry } from '../schemas/schemaRegistry.ts';
import { AppendSignal } from './appendSignal.ts';
import { DuplicateEventIdError, WrongExpectedRevisionError } from './errors.ts';
import {
  type AllFilter,
  type AppendResult,
  type EventStore,
  type ExpectedRevision,
  type NewEvent,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type SubscribeOptions,
  type Subscription,
  streamCategory,
} from './eventStore.ts';
import { createEventStoreMetrics, type EventStoreMetrics } from './eventStoreMetrics.ts';
import { validateEvents } from './eventValidator.ts';
import { type BatchOutcome, GroupCommitter } from './groupCommit.ts';
import { PostgresSubscription } from './postgresSubscription.ts';

/**
 * The event store on Postgres (tables and append function: src/db/migrations/000[124]_*.sql).
 *
 * Reading `$all` without gaps: `position` is a bigserial, handed out at insert, so a transaction
 * can commit after another that took a larger position. A reader that simply followed
 * `position > checkpoint` would skip it forever. Readers here order by (transaction_id, position)
 * and read only transactions older than the oldest one of this database still running (see
 * `horizonSql`): everything below that line is final, so a cursor never has to move back. The
 * price: one long transaction in the database holds every subscriber back until it ends — keep
 * transactions short (eventstore_oldest_transaction_seconds shows the culprit's age).
 */
export type PostgresEventStoreOptions = {
  pool: DatabasePool;
  /** Used for the LISTEN connection, which must live outside the pool. */
  databaseUrl: string;
  registry: SchemaRegistry;
  logger: Logger;
  /** Most appends written in one transaction. 1 turns group commit off. */
  groupCommitMax?: number;
  /** Batches written at the same time (each on its own connection). */
  maxBatchesInFlight?: number;
  /** Where the store's metrics go (GET /metrics); none when absent. */
  metricsRegistry?: Registry;
};

type AppendRequest = { streamName: string; expected: ExpectedRevision; events: NewEvent[] };

/** The cursor of a `$all` reader: every event at or before it, in $all order, has been read. */
export type AllCursor = { transactionId: bigint; position: bigint };

type EventRow = {
  position: bigint;
  transaction_id: string;
  event_id: string;
  stream_name: string;
  revision: bigint;
  type: string;
  data: unknown;
  metadata: RecordedEvent['metadata'];
  recorded_at: Date;
};

const expectedCode = (expected: ExpectedRevision): bigint => {
  if (expected === 'no_stream') return -1n;
  if (expected === 'any') return -2n;
  if (expected === 'stream_exists') return -3n;
  return expected;
};

const eventColumns = sql.fragment`position, transaction_id::text AS transaction_id, event_id, stream_name,
  revision, type, data, metadata, recorded_at`;

const maxBigint = 9_223_372_036_854_775_807n;

/**
 * The horizon below which every transaction is final for this database: the oldest transaction
 * still running at the snapshot (pg_snapshot_xip), ignoring those known to run in another database
 * of the cluster — they cannot write here, and without this a long transaction in any database
 * would hold every subscriber back. A transaction whose database is unknown (it ended between the
 * snapshot and the look-up) still counts, so the horizon never passes one of ours. pg_stat_activity
 * shows 32-bit xids; xid8 modulo 2^32 is the same id.
 */
const horizonSql = sql.fragment`
  SELECT coalesce(
    (SELECT min(x) FROM pg_snapshot_xip((SELECT s FROM snapshot)) AS x
      WHERE (x::text::numeric % 4294967296)::text NOT IN (
        SELECT a.backend_xid::text FROM pg_stat_activity a
         WHERE a.backend_xid IS NOT NULL AND a.datname IS DISTINCT FROM current_database())),
    pg_snapshot_xmax((SELECT s FROM snapshot))) AS xmin`;
const startCursor: AllCursor = { transactionId: 0n, position: 0n };

export class PostgresEventStore implements EventStore {
  private readonly committer: GroupCommitter<AppendRequest, AppendResult>;
  readonly signal: AppendSignal;
  private readonly metrics: EventStoreMetrics | undefined;

  private constructor(private readonly options: PostgresEventStoreOptions) {
    this.signal = new AppendSignal(options.databaseUrl, options.logger);
    this.metrics = options.metricsRegistry && createEventStoreMetrics(options.metricsRegistry, options.pool);
    this.committer = new GroupCommitter(
      (batch) => this.writeBatch(batch),
      options.groupCommitMax ?? 500,
      options.maxBatchesInFlight ?? 2,
    );
  }

  static async open(options: PostgresEventStoreOptions): Promise<PostgresEventStore> {
    const store = new PostgresEventStore(options);
    await store.signal.start();
    return store;
  }

  async appendToStream(
    streamName: string,
    events: NewEvent[],
    expectedRevision: ExpectedRevision = 'any',
  ): Promise<AppendResult> {
    checkStreamName(streamName);
    if (events.length === 0) throw new Error(`${streamName}: nothing to append`);
    if (typeof expectedRevision === 'bigint' && expectedRevision < 0n) {
      throw new Error(`${streamName}: expected revision must be >= 0 or a keyword`);
    }
    validateEvents(this.options.registry, events);
    return this.committer.submit({ streamName, expected: expectedRevision, events });
  }

  async readStream(streamName: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const limit = options.maxCount ?? 1_000_000;
    const rows =
      options.direction === 'backwards'
        ? await this.options.pool.any(sql.unsafe`
            SELECT ${eventColumns} FROM es.events
             WHERE stream_name = ${streamName} AND revision <= ${String(options.fromRevision ?? maxBigint)}
             ORDER BY revision DESC LIMIT ${limit}`)
        : await this.options.pool.any(sql.unsafe`
            SELECT ${eventColumns} FROM es.events
             WHERE stream_name = ${streamName} AND revision >= ${String(options.fromRevision ?? 0n)}
             ORDER BY revision LIMIT ${limit}`);
    return (rows as readonly EventRow[]).map(toRecordedEvent);
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    const cursor = await this.cursorAfter(options.after);
    const { events } = await this.readAllBatch(cursor, options.maxCount ?? 1000, options.filter);
    return events;
  }

  subscribeToAll(options: SubscribeOptions = {}): Subscription {
    return new PostgresSubscription({
      start: () => this.cursorAfter(options.after),
      read: (cursor, limit) => this.readAllBatch(cursor, limit, options.filter),
      signal: this.signal,
      batchSize: options.batchSize ?? 1000,
      ...(options.filter?.eventTypes ? { eventTypes: options.filter.eventTypes } : {}),
    });
  }

  /** The `$all` cursor just after the event at `position` (absent or 0: the beginning). */
  async cursorAfter(position: bigint | undefined): Promise<AllCursor> {
    if (position === undefined || position === 0n) return startCursor;
    const transactionId = await this.options.pool.maybeOneFirst(
      sql.unsafe`SELECT transaction_id::text FROM es.events WHERE position = ${String(position)}`,
    );
    if (transactionId === null) {
      throw new AppError('eventstore.unknown_position', `no event at position ${position}`);
    }
    return { transactionId: BigInt(transactionId as string), position };
  }

  /**
   * Reads up to `limit` events after `cursor` in $all order. `caughtUp` is true when nothing more is
   * readable now; the returned cursor then jumps to the snapshot's horizon, so events a filter
   * skipped are never scanned again.
   */
  async readAllBatch(
    cursor: AllCursor,
    limit: number,
    filter: AllFilter = {},
  ): Promise<{ events: RecordedEvent[]; cursor: AllCursor; caughtUp: boolean }> {
    const categories = filter.categories ? sql.array(filter.categories, 'text') : null;
    const types = filter.eventTypes ? sql.array(filter.eventTypes, 'text') : null;
    const rows = (await this.options.pool.any(sql.unsafe`
      WITH snapshot AS (SELECT pg_current_snapshot() AS s),
      horizon AS (${horizonSql})
      SELECT horizon.xmin::text AS horizon, e.*
        FROM horizon
        LEFT JOIN LATERAL (
          SELECT ${eventColumns} FROM es.events ev
           WHERE (ev.transaction_id, ev.position) > (${String(cursor.transactionId)}::xid8, ${String(cursor.position)}::bigint)
             AND ev.transaction_id < horizon.xmin
             AND (${categories}::text[] IS NULL OR ev.category = ANY (${categories}::text[]))
             AND (${types}::text[] IS NULL OR ev.type = ANY (${types}::text[]))
           -- Qualified: unqualified names here would be the text aliases of the select list.
           ORDER BY ev.transaction_id, ev.position
           LIMIT ${limit}
        ) e ON true`)) as readonly (EventRow & { horizon: string })[];
    const events = rows.filter((row) => row.position !== null).map(toRecordedEvent);
    const last = rows.at(-1);
    let next = cursor;
    if (last && last.position !== null)
      next = { transactionId: BigInt(last.transaction_id), position: last.position };
    const caughtUp = events.length < limit;
    if (caughtUp && last) {
      const horizon = { transactionId: BigInt(last.horizon) - 1n, position: maxBigint };
      if (compareCursors(horizon, next) > 0) next = horizon;
    }
    return { events, cursor: next, caughtUp };
  }

  async countAfter(after: bigint | undefined, filter: AllFilter, limit: number): Promise<number> {
    const cursor = await this.cursorAfter(after);
    const types = filter.eventTypes ? sql.array(filter.eventTypes, 'text') : null;
    const categories = filter.categories ? sql.array(filter.categories, 'text') : null;
    return Number(
      await this.options.pool.oneFirst(sql.unsafe`
        SELECT count(*) FROM (
          SELECT 1 FROM es.events ev
           WHERE (ev.transaction_id, ev.position) > (${String(cursor.transactionId)}::xid8, ${String(cursor.position)}::bigint)
             AND (${categories}::text[] IS NULL OR ev.category = ANY (${categories}::text[]))
             AND (${types}::text[] IS NULL OR ev.type = ANY (${types}::text[]))
           LIMIT ${limit}) pending`),
    );
  }

  async close(): Promise<void> {
    await this.signal.close();
  }

  private async writeBatch(batch: AppendRequest[]): Promise<BatchOutcome<AppendResult>[]> {
    const events = batch.flatMap((request) => request.events);
    const stopTimer = this.metrics?.batchSeconds.startTimer();
    // A batch of one costs less in the row-by-row function (no set-based statements to plan).
    const appendFunction =
      batch.length === 1
        ? sql.identifier(['es', 'append_batch_row_by_row'])
        : sql.identifier(['es', 'append_batch']);
    const query = sql.unsafe`
      SELECT ord, outcome, stream_revision, last_position FROM ${appendFunction}(
        ${sql.array(
          batch.map((request) => request.streamName),
          'text',
        )},
        ${sql.array(
          batch.map((request) => streamCategory(request.streamName)),
          'text',
        )},
        ${sql.array(
          batch.map((request) => String(expectedCode(request.expected))),
          'int8',
        )},
        ${sql.array(
          batch.map((request) => request.events.length),
          'int4',
        )},
        ${sql.array(
          events.map((event) => event.id),
          'uuid',
        )},
        ${sql.array(
          events.map((event) => event.type),
          'text',
        )},
        ${jsonbArray(events.map((event) => event.data))},
        ${jsonbArray(events.map((event) => event.metadata))}
      )`;
    // A new event id raced into another stream by a concurrent writer (different stream locks)
    // surfaces as a unique violation; written again, the batch sees the id and answers per request.
    const rows = (await this.options.pool
      .any(query)
      .catch((error: unknown) =>
        error instanceof UniqueIntegrityConstraintViolationError
          ? this.options.pool.any(query)
          : Promise.reject(error),
      )) as readonly {
      ord: number;
      outcome: 'ok' | 'duplicate' | 'duplicate_id' | 'wrong_expected_revision';
      stream_revision: bigint | null;
      last_position: bigint | null;
    }[];
    stopTimer?.();
    this.metrics?.batchSize.observe(batch.length);
    const outcomes = new Map<string, number>();
    for (const row of rows) outcomes.set(row.outcome, (outcomes.get(row.outcome) ?? 0) + 1);
    for (const [outcome, count] of outcomes) this.metrics?.appends.inc({ outcome }, count);
    const written = rows
      .filter((row) => row.outcome === 'ok')
      .flatMap((row) => batch[row.ord - 1]?.events ?? []);
    if (written.length > 0) {
      this.metrics?.eventsAppended.inc(written.length);
      this.signal.appended(new Set(written.map((event) => event.type)));
    }
    const byOrd = new Map(rows.map((row) => [row.ord, row]));
    return batch.map((request, index): BatchOutcome<AppendResult> => {
      const row = byOrd.get(index + 1);
      if (!row) return { ok: false, error: new Error(`${request.streamName}: append returned no outcome`) };
      switch (row.outcome) {
        case 'ok':
        case 'duplicate':
          return {
            ok: true,
            value: { nextExpectedRevision: row.stream_revision ?? -1n, position: row.last_position ?? 0n },
          };
        case 'wrong_expected_revision':
          return {
            ok: false,
            error: new WrongExpectedRevisionError(
              request.streamName,
              request.expected,
              row.stream_revision ?? -1n,
            ),
          };
        case 'duplicate_id':
          return {
            ok: false,
            error: new DuplicateEventIdError(request.streamName, request.events[0]?.id ?? ''),
          };
        default:
          return assertNever(row.outcome);
      }
    });
  }
}

function compareCursors(a: AllCursor, b: AllCursor): number {
  if (a.transactionId !== b.transactionId) return a.transactionId < b.transactionId ? -1 : 1;
  if (a.position !== b.position) return a.position < b.position ? -1 : 1;
  return 0;
}

function toRecordedEvent(row: EventRow): RecordedEvent {
  return {
    id: row.event_id,
    type: row.type,
    data: row.data,
    metadata: row.metadata,
    streamName: row.stream_name,
    revision: row.revision,
    position: row.position,
    recordedAt: row.recorded_at,
  };
}

function checkStreamName(streamName: string): void {
  if (typeof streamName !== 'string' || streamName.length === 0 || streamName.length > 500) {
    throw new Error('stream name must be 1 to 500 characters');
  }
}

/**
 * A jsonb[] parameter sent as one JSON document and split by Postgres: JSON.stringify is native,
 * while a text array literal of JSON strings would be escaped character by character in JavaScript.
 */
function jsonbArray(values: unknown[]) {
  return sql.fragment`ARRAY(SELECT value FROM jsonb_array_elements(${JSON.stringify(values)}::jsonb)
                              WITH ORDINALITY AS element(value, n) ORDER BY n)`;
}
