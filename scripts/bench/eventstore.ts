/**
 * Event-store benchmark: `npm run bench:eventstore [-- --help]`.
 *
 * Against a throwaway database pytake_bench_<random> on the machine's Postgres (BENCH_DATABASE_URL,
 * else PYTAKE_TEST_ADMIN_URL, else postgres://postgres@127.0.0.1:5432/postgres), it measures the
 * store beside "raw" ceilings — the same rows through the bare pg driver, into a table of
 * es.events' shape — so that each ratio says what the store costs on top of Postgres:
 *   1. single appends from many streams, group commit off  | raw: one INSERT per transaction
 *   2. the same, group commit on                            | raw: unnest INSERT, same batching
 *                                                           | raw: full batches, back to back
 *   3. catch-up: subscribeToAll over the whole of $all      | raw: keyset SELECT, same order
 * The CPU of Node, of Postgres and of everything else is shown per measure: a figure taken while
 * something else was busy is flagged, and should not be quoted.
 */

import { randomBytes, randomUUID } from 'node:crypto';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { migrate } from '../../src/db/migrate.ts';
import { createDatabasePool, type DatabasePool } from '../../src/db/pool.ts';
import { streamCategory } from '../../src/eventstore/eventStore.ts';
import { GroupCommitter } from '../../src/eventstore/groupCommit.ts';
import {
  PostgresEventStore,
  type PostgresEventStoreOptions,
} from '../../src/eventstore/postgresEventStore.ts';
import { createLogger } from '../../src/log/logger.ts';
import { SchemaRegistry, schemasDir } from '../../src/schemas/schemaRegistry.ts';
import { benchEvent } from './benchEvent.ts';
import { integerFlag, readFlags } from './flags.ts';
import { fixed, formatTable, percentile, runLoops, startMeter, type Usage } from './measure.ts';
import { postgresSettings } from './scratchDatabase.ts';

/** Every option: its default and what it sets (`--read-total` is readTotal). */
const flags = {
  events: [20_000, 'events per append measure'],
  seconds: [60, 'cap on each append measure, whichever ends first'],
  warmup: [2_000, 'untimed appends before each append measure (at least one per stream)'],
  streams: [1_000, 'concurrent streams, one append loop each'],
  pool: [20, 'connection pool size'],
  groupMax: [500, 'group commit: most appends per batch'],
  inFlight: [2, 'group commit: batches written at once'],
  readTotal: [200_000, 'events in es.events for the catch-up read'],
  readBatch: [1_000, 'events per catch-up read batch'],
} as const;
type Options = { -readonly [key in keyof typeof flags]: number };

function parseOptions(): Options {
  const raw = readFlags('npm run bench:eventstore', flags);
  return Object.fromEntries(
    Object.entries(raw).map(([key, value]) => [key, integerFlag(key, value)]),
  ) as Options;
}

const log = (message: string) => process.stderr.write(`${message}\n`);
const logger = createLogger(process.env.BENCH_LOG_LEVEL ?? 'warn', process.stderr);

/** A stream and the revision of its last event (-1n: none yet). */
type Stream = { name: string; revision: bigint };

const makeStreams = (count: number): Stream[] =>
  Array.from({ length: count }, () => ({ name: `conversation-${randomUUID()}`, revision: -1n }));

/** The next event of `stream` as a raw row (jsonb sent as JSON text, as the store sends it). */
function nextRawRow(stream: Stream): string[] {
  const { id, type, data, metadata } = benchEvent();
  stream.revision += 1n;
  const json = [JSON.stringify(data), JSON.stringify(metadata)];
  return [id, stream.name, streamCategory(stream.name), String(stream.revision), type, ...json];
}

const rawTable = 'bench_raw_events';
const rawColumns = `${rawTable} (event_id, stream_name, category, revision, type, data, metadata)`;
const rawInsert = `INSERT INTO ${rawColumns} VALUES ($1, $2, $3, $4, $5, $6, $7)`;
const rawBatchInsert = `INSERT INTO ${rawColumns}
  SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int8[], $5::text[], $6::jsonb[], $7::jsonb[])`;
/** The seven column arrays that rawBatchInsert unnests. */
const columnsOf = (rows: string[][]) => Array.from({ length: 7 }, (_, i) => rows.map((row) => row[i]));

// ---------------------------------------------------------------------------------------------
// Measures

type Batches = { avg: number; p50: number; max: number };
/** One timed run. Latencies ascending, in ms; batches: events per transaction, as written. */
type Run = { events: number; usage: Usage; latencies?: Float64Array; batches?: Batches; failure?: string };
/** admin: one connection for bookkeeping and the raw read; store: what every store here opens with. */
type Context = { options: Options; admin: pg.Client; store: PostgresEventStoreOptions };

/**
 * The load of an append measure: one loop per stream, each awaiting one append at a time — the shape
 * of conversation actors (many streams, at most one append in flight on each). The same streams
 * serve the warm-up and the timed run. A failed append throws: a run with errors measures nothing.
 */
function loops(ctx: Context, append: (stream: Stream) => Promise<unknown>) {
  const streams = makeStreams(ctx.options.streams);
  return (events: number) => runLoops(streams, events, ctx.options.seconds, append);
}

/**
 * The frame of every append measure. The warm-up writes at least one event per stream, so the timed
 * appends extend existing streams, as appends to live conversations mostly do. The CHECKPOINT gives
 * each measure the same full-page-write cost. The real batch sizes are counted in the table after.
 */
async function timedAppends(ctx: Context, table: string, go: (events: number) => Promise<Run>): Promise<Run> {
  await go(Math.max(ctx.options.warmup, ctx.options.streams));
  // Statistics, as autovacuum (off here, see main) keeps them on a growing table: without them, a
  // plan cached while the table was nearly empty (a seq scan of es.events) is kept as it grows.
  await ctx.admin.query(`ANALYZE es.events, es.streams, ${rawTable}`);
  await ctx.admin.query('CHECKPOINT').catch(() => undefined); // needs superuser or pg_checkpoint
  const before = await ctx.admin.query(`SELECT coalesce(max(position), 0) AS max FROM ${table}`);
  const run = await go(ctx.options.events);
  const { rows } = await ctx.admin.query<Batches>(
    `SELECT avg(n)::float8 AS avg, percentile_disc(0.5) WITHIN GROUP (ORDER BY n)::int AS p50, max(n)::int AS max
       FROM (SELECT count(*) AS n FROM ${table} WHERE position > $1 GROUP BY transaction_id) batches`,
    [before.rows[0]?.max],
  );
  return { ...run, batches: rows[0] };
}

/** (1) and (2): appends through the store, one event each, with the stream's exact expected revision. */
async function storeAppends(ctx: Context, groupCommitMax: number, maxBatchesInFlight: number): Promise<Run> {
  const store = await PostgresEventStore.open({ ...ctx.store, groupCommitMax, maxBatchesInFlight });
  try {
    const append = async (stream: Stream) => {
      const expected = stream.revision === -1n ? 'no_stream' : stream.revision;
      const result = await store.appendToStream(stream.name, [benchEvent()], expected);
      stream.revision = result.nextExpectedRevision;
    };
    return await timedAppends(ctx, 'es.events', loops(ctx, append));
  } finally {
    await store.close();
  }
}

/**
 * A raw measure: timedAppends into the raw table, on a bare pg pool of its own. Fresh connections:
 * full batches on connections that had just run the other raw measures came out ~40% lower, with
 * Postgres spending more CPU per row (cause not found).
 */
function rawAppends(ctx: Context, size: number, load: (pool: pg.Pool) => (events: number) => Promise<Run>) {
  const pool = new pg.Pool({ connectionString: ctx.store.databaseUrl, max: size });
  pool.on('error', (error) => logger.warn({ err: error }, 'bench pool: idle connection error'));
  return timedAppends(ctx, rawTable, load(pool)).finally(() => pool.end());
}

/** Ceiling of (1): one INSERT per transaction (autocommit), from the same loops, same pool size. */
const rawSingleInserts = (ctx: Context) =>
  rawAppends(ctx, ctx.options.pool, (pool) => loops(ctx, (s) => pool.query(rawInsert, nextRawRow(s))));

/**
 * Ceiling of (2) with the same batching: the store's own GroupCommitter (same cap, same batches in
 * flight) in front of one bare unnest INSERT per batch, fed by the same loops. What separates it
 * from (2) is the store's work: validation, slonik, es.append_batch (locks, checks, es.streams).
 */
const rawGroupedInserts = (ctx: Context) =>
  rawAppends(ctx, ctx.options.pool, (pool) => {
    const write = async (rows: string[][]) => {
      await pool.query(rawBatchInsert, columnsOf(rows));
      return rows.map(() => ({ ok: true as const, value: undefined }));
    };
    const committer = new GroupCommitter(write, ctx.options.groupMax, ctx.options.inFlight);
    return loops(ctx, (stream) => committer.submit(nextRawRow(stream)));
  });

/** Ceiling of (2) for Postgres itself: full batches from `inFlight` writers, back to back. */
const rawFullBatches = (ctx: Context) =>
  rawAppends(ctx, ctx.options.inFlight, (pool) => {
    const { groupMax, inFlight, seconds } = ctx.options;
    const streams = makeStreams(ctx.options.streams);
    let next = 0;
    const writeBatch = () => {
      const rows = Array.from({ length: groupMax }, () =>
        nextRawRow(streams[next++ % streams.length] as Stream),
      );
      return pool.query(rawBatchInsert, columnsOf(rows));
    };
    // runLoops with one loop per writer, each "append" a whole batch: latencies are per batch.
    const writers = Array.from({ length: inFlight }, (_, writer) => writer);
    return async (events) => {
      const run = await runLoops(writers, Math.ceil(events / groupMax), seconds, writeBatch);
      return { ...run, events: run.events * groupMax };
    };
  });

/**
 * (3): catch-up through the store, subscribeToAll from the start until every event has arrived,
 * after topping es.events up to --read-total with group-commit appends (untimed).
 */
async function storeCatchUp(ctx: Context): Promise<Run> {
  const count = async () => Number((await ctx.admin.query('SELECT count(*) AS n FROM es.events')).rows[0].n);
  const missing = Math.max(0, ctx.options.readTotal - (await count()));
  log(`  filling es.events with ${fixed(missing)} more events…`);
  const { groupMax: groupCommitMax, inFlight: maxBatchesInFlight } = ctx.options;
  const writer = await PostgresEventStore.open({ ...ctx.store, groupCommitMax, maxBatchesInFlight });
  const append = (stream: Stream) => writer.appendToStream(stream.name, [benchEvent()], 'any');
  await runLoops(makeStreams(ctx.options.streams), missing, 3600, append).finally(() => writer.close());
  // Autovacuum is off in the bench tables (see main): read es.events as autovacuum would leave an
  // insert-only table (visibility map, hint bits, statistics), not as the appends happened to.
  await ctx.admin.query('VACUUM (ANALYZE) es.events');
  const total = await count();
  await rawKeysetRead(ctx); // untimed: both timed reads then find the table and index in cache

  const store = await PostgresEventStore.open(ctx.store);
  const subscription = store.subscribeToAll({ batchSize: ctx.options.readBatch });
  // A reader quiet before the end is stuck (held back by a transaction left open in this database,
  // or it skipped events): end it and report that, rather than wait forever.
  let events = 0;
  let eventsAtLastCheck = -1;
  const watchdog = setInterval(() => {
    if (events === eventsAtLastCheck) void subscription.close();
    eventsAtLastCheck = events;
  }, 15_000);
  try {
    const meter = startMeter();
    for await (const _event of subscription) if (++events >= total) break;
    const usage = meter();
    const stalled = `stalled at ${events} of ${total} events (nothing new for 15 s)`;
    return { events, usage, failure: events < total ? stalled : undefined };
  } finally {
    clearInterval(watchdog);
    await subscription.close();
    await store.close();
  }
}

/**
 * Ceiling of (3): the store's columns in $all order, in (transaction_id, position) keyset pages of
 * the same size, on one connection (pg parses jsonb and timestamptz, leaves int8 as strings).
 */
async function rawKeysetRead(ctx: Context): Promise<Run> {
  const meter = startMeter();
  let cursor = ['0', '0'];
  let events = 0;
  for (;;) {
    const { rows } = await ctx.admin.query(
      `SELECT position, transaction_id::text AS transaction_id, event_id, stream_name, revision, type, data,
              metadata, recorded_at
         FROM es.events e WHERE (e.transaction_id, e.position) > ($1::xid8, $2::bigint)
        ORDER BY e.transaction_id, e.position LIMIT $3`,
      [...cursor, ctx.options.readBatch],
    );
    events += rows.length;
    const last = rows.at(-1);
    if (!last || rows.length < ctx.options.readBatch) break;
    cursor = [last.transaction_id, last.position];
  }
  return { events, usage: meter() };
}

// ---------------------------------------------------------------------------------------------
// Report

type Result = Run & { key: string; label: string; eventsPerSecond: number; otherDatabaseTx: number };

/**
 * Transactions so far in each of the cluster's other databases (a test run or a service sharing
 * this Postgres). Kept per database: one dropped meanwhile takes its counts with it.
 */
async function otherDatabaseTx(admin: pg.Client): Promise<Map<string, number>> {
  const { rows } = await admin.query(`SELECT datid::text AS id, xact_commit + xact_rollback AS n
    FROM pg_stat_database WHERE datname IS DISTINCT FROM current_database()`);
  return new Map(rows.map((row) => [row.id, Number(row.n)]));
}

const ratios = [
  ['single appends: store / raw single INSERTs', 'store_single', 'raw_single'],
  ['group commit: store / raw unnest, same batching', 'store_grouped', 'raw_grouped'],
  ['group commit: store / raw full batches', 'store_grouped', 'raw_full_batches'],
  ['catch-up: store / raw keyset read', 'store_catch_up', 'raw_read'],
] as const;

/** The report: machine and Postgres settings, the table, the ratios, and what disturbed the run. */
async function report(admin: pg.Client, o: Options, results: Result[]): Promise<string> {
  const pgInfo = await postgresSettings(
    admin,
    'synchronous_commit fsync wal_sync_method full_page_writes shared_buffers commit_delay',
  );
  const cpus = os.cpus();
  const columns =
    'measure|events|events/s|p50 ms|p99 ms|events/tx avg/p50/max|CPU node/pg/other|iowait|other-db tx';
  const rows = results.map((r) => [
    r.label,
    fixed(r.events),
    fixed(r.eventsPerSecond),
    fixed(r.latencies && percentile(r.latencies, 50), 1),
    fixed(r.latencies && percentile(r.latencies, 99), 1),
    r.batches ? `${fixed(r.batches.avg)}/${r.batches.p50}/${r.batches.max}` : '—',
    `${fixed(r.usage.nodeCpuPct)}/${fixed(r.usage.serverCpuPct)}/${fixed(r.usage.otherCpuPct)}%`,
    `${fixed(r.usage.iowaitPct)}%`,
    fixed(r.otherDatabaseTx),
  ]);
  const byKey = new Map(results.filter((r) => !r.failure).map((r) => [r.key, r.eventsPerSecond]));
  // Measures something outside the benchmark competed with: their figures are low.
  const noisy = results.filter((r) => (r.usage.otherCpuPct ?? 0) > 20 || r.otherDatabaseTx > 200);
  return [
    `Event store benchmark — ${new Date().toISOString()}`,
    `Machine:  ${cpus[0]?.model.trim()}, ${cpus.length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, ` +
      `${os.type()} ${os.release()}, Node ${process.version}`,
    `Postgres: ${pgInfo.version}`,
    `          ${pgInfo.settings}`,
    `Load:     ${o.streams} streams, one append loop each (exact expected revision), pool ${o.pool}; ` +
      `${fixed(o.events)} events per append measure after ${fixed(Math.max(o.warmup, o.streams))} warm-up; ` +
      `group commit ${o.groupMax}×${o.inFlight}; catch-up batches of ${o.readBatch}`,
    '',
    formatTable(columns.split('|'), rows),
    '',
    ...ratios.map(([label, store, raw]) => {
      const ratio = (byKey.get(store) ?? Number.NaN) / (byKey.get(raw) ?? Number.NaN);
      return `${label.padEnd(50)} ${fixed(ratio, 2)}`;
    }),
    '',
    ...results.flatMap((r) => (r.failure ? [`FAILED: ${r.label}: ${r.failure}`] : [])),
    ...(noisy.length > 0
      ? [`WARNING: something else was busy during: ${noisy.map((r) => r.label).join('; ')}. Do not quote.`]
      : []),
    `CPU: % of one core (${cpus.length * 100}% in all) taken by this Node process, by all postgres`,
    '     processes, by everything else; other-db tx: transactions in the other databases meanwhile.',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Main

const { BENCH_DATABASE_URL, PYTAKE_TEST_ADMIN_URL } = process.env;
const adminUrl = BENCH_DATABASE_URL ?? PYTAKE_TEST_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function main(): Promise<void> {
  const options = parseOptions();
  const name = `pytake_bench_${randomBytes(4).toString('hex')}`;
  const url = Object.assign(new URL(adminUrl), { pathname: `/${name}` }).toString();
  const server = new pg.Client({ connectionString: adminUrl, application_name: 'pytake-bench' });
  await server.connect();
  await server.query(`CREATE DATABASE "${name}"`);
  const drop = () => server.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`); // only ours
  for (const signal of ['SIGINT', 'SIGTERM'])
    process.once(signal, () => void drop().finally(() => process.exit(130)));
  log(`bench database ${name}`);
  const admin = new pg.Client({ connectionString: url, application_name: 'pytake-bench' });
  let pool: DatabasePool | undefined;
  try {
    await admin.connect();
    await migrate(url, logger);
    // The raw ceilings' table: es.events' columns and indexes, with a position sequence of its own.
    await admin.query(`CREATE TABLE bench_raw_events (LIKE es.events INCLUDING ALL);
      CREATE SEQUENCE bench_raw_events_position_seq OWNED BY bench_raw_events.position;
      ALTER TABLE bench_raw_events ALTER position SET DEFAULT nextval('bench_raw_events_position_seq')`);
    // Autovacuum would wake at a random moment in one measure or another (worth a third of a figure
    // on 2 cores); es.events is vacuumed explicitly before the reads instead.
    for (const table of ['es.events', 'es.streams', rawTable])
      await admin.query(`ALTER TABLE ${table} SET (autovacuum_enabled = false)`);
    pool = await createDatabasePool(url, options.pool);
    const registry = new SchemaRegistry([schemasDir, fileURLToPath(new URL('./schemas/', import.meta.url))]);
    const ctx: Context = { options, admin, store: { pool, databaseUrl: url, registry, logger } };

    const results: Result[] = [];
    const measure = async (key: string, label: string, run: () => Promise<Run>) => {
      log(`${label}…`);
      const othersBefore = await otherDatabaseTx(admin);
      const result = await run();
      const eventsPerSecond = result.events / (result.usage.wallMs / 1000);
      log(`  ${fixed(eventsPerSecond)} events/s${result.failure ? `; FAILED: ${result.failure}` : ''}`);
      let otherTx = 0;
      for (const [id, n] of await otherDatabaseTx(admin)) otherTx += n - (othersBefore.get(id) ?? 0);
      results.push({ ...result, key, label, eventsPerSecond, otherDatabaseTx: otherTx });
    };
    const [g, f] = [options.groupMax, options.inFlight];
    const measures: [key: string, label: string, run: () => Promise<Run>][] = [
      ['store_single', 'store: single appends, group commit off', () => storeAppends(ctx, 1, options.pool)],
      ['raw_single', 'raw: 1 INSERT per transaction', () => rawSingleInserts(ctx)],
      ['store_grouped', `store: single appends, group commit ${g}×${f}`, () => storeAppends(ctx, g, f)],
      ['raw_grouped', 'raw: unnest INSERT, same batching', () => rawGroupedInserts(ctx)],
      ['raw_full_batches', `raw: full ${g}-row batches, ${f} writers`, () => rawFullBatches(ctx)],
      ['store_catch_up', 'store: subscribeToAll from the start', () => storeCatchUp(ctx)],
      ['raw_read', 'raw: keyset SELECT, same order and batch', () => rawKeysetRead(ctx)],
    ];
    for (const [key, label, run] of measures) await measure(key, label, run);
    process.stdout.write(`\n${await report(admin, options, results)}\n`);
  } finally {
    await pool?.end().catch(() => undefined);
    await admin.end().catch(() => undefined);
    await drop();
    await server.end();
    log(`dropped ${name}`);
  }
}

await main();
