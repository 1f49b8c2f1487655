/**
 * Replay benchmark: `npm run bench:replay [-- --help]`.
 *
 * On a throwaway database pytake_bench_replay_<random> (migrated, dropped at the end, no other
 * touched):
 *   1. append a realistic history through the event store API (replay/history.ts): identity streams
 *      for 10 organizations, then ~2,000 conversations each, appended in chunks of 10 events per
 *      stream, round after round, so that conversations interleave in `$all` as they do live;
 *   2. the ceilings: read all of `$all` without applying anything — readAll pages (what
 *      rebuildProjection reads), subscribeToAll catch-up (what the runner reads), bare pg keyset;
 *   3. per projection of allProjections: readAll pages filtered to its event types (its ceiling),
 *      then rebuildProjection; then all four at once;
 *   4. where the conversations projection's time goes, per statement (replay/profile.ts).
 * Every measure shows the CPU of this process (Node), of Postgres and of everything else.
 */

import os from 'node:os';
import { allProjections } from '../../projections/index.ts';
import { createDatabasePool, type DatabasePool } from '../../src/db/pool.ts';
import type { NewEvent } from '../../src/eventstore/eventStore.ts';
import { PostgresEventStore } from '../../src/eventstore/postgresEventStore.ts';
import { createLogger } from '../../src/log/logger.ts';
import type { Projection } from '../../src/projection/projection.ts';
import { rebuildProjection } from '../../src/projection/rebuild.ts';
import { SchemaRegistry } from '../../src/schemas/schemaRegistry.ts';
import { integerFlag, readFlags } from './flags.ts';
import { fixed, formatTable, startMeter, type Usage } from './measure.ts';
import { conversation, organizations, seededRandom } from './replay/history.ts';
import { type Profile, profileProjection } from './replay/profile.ts';
import { catchUp, rawKeysetRead, readAllPages } from './replay/reads.ts';
import {
  createScratchDatabase,
  otherDatabaseTransactions,
  otherTransactionsSince,
  postgresSettings,
  type ScratchDatabase,
} from './scratchDatabase.ts';

const flags = {
  events: [1_000_000, 'events in the store, identity streams included'],
  organizations: [10, 'organizations'],
  conversations: [2_000, 'conversations per organization (fewer when --events is small: ≥ 10 events each)'],
  users: [40, 'users per organization (a tenth org admins, the rest agents in 4 queues)'],
  chunk: [10, 'events per append while generating (one stream each)'],
  inFlight: [64, 'appends in flight while generating'],
  pool: [4, 'Postgres pool of the store and of the rebuilds (npm run replay uses 4)'],
  batch: [1_000, 'events per readAll page (npm run replay: 1,000)'],
  lanes: [
    2,
    "a rebuild's transactions at once per page, each some organizations' events (npm run replay: 2)",
  ],
  profile: [50_000, 'conversations events applied in pages of --batch, timed per statement (0: skip)'],
  together: [0, '1: also rebuild all projections at once (as long again); 0: skip'],
} as const;
type Options = { -readonly [key in keyof typeof flags]: number } & { only: Projection[] };

function parseOptions(): Options {
  const names = allProjections.map((projection) => projection.name);
  const { only: onlyFlag, ...raw } = readFlags('npm run bench:replay', {
    ...flags,
    only: ['', `projections to rebuild, comma-separated (default: all of ${names.join(',')})`],
  });
  const only = onlyFlag ? onlyFlag.split(',') : names;
  const unknown = only.filter((name) => !names.includes(name));
  if (unknown.length > 0)
    throw new Error(`--only: no projection ${unknown.join(', ')} (${names.join(', ')})`);
  const numbers = Object.fromEntries(
    Object.entries(raw).map(([key, value]) => [
      key,
      integerFlag(key, value, key === 'profile' || key === 'together' ? 0 : 1),
    ]),
  );
  return {
    ...numbers,
    only: allProjections.filter((projection) => only.includes(projection.name)),
  } as Options;
}

const log = (message: string) => process.stderr.write(`${message}\n`);
const logger = createLogger(process.env.BENCH_LOG_LEVEL ?? 'warn', process.stderr);

/** Runs `work` over `items` with at most `limit` at a time. */
async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

// ---------------------------------------------------------------------------------------------
// 1. The history

type History = {
  events: number;
  identityEvents: number;
  conversations: number;
  seconds: number;
  usage: Usage;
  byType: Map<string, number>;
};

async function appendHistory(store: PostgresEventStore, options: Options): Promise<History> {
  const meter = startMeter();
  const start = Date.parse('2026-10-27T12:00:00Z');
  const identity = organizations(options.organizations, options.users, start);
  const byType = new Map<string, number>();
  const count = (events: NewEvent[]) => {
    for (const event of events) byType.set(event.type, (byType.get(event.type) ?? 0) + 1);
  };
  const identityEvents = identity.streams.reduce((sum, stream) => sum + stream.events.length, 0);
  log(`  identity: ${fixed(identity.streams.length)} streams, ${fixed(identityEvents)} events`);
  await forEachLimited(identity.streams, options.inFlight, async ({ streamName, events }) => {
    await store.appendToStream(streamName, events, 'no_stream');
    count(events);
  });

  // Conversations: each gets an equal share of what is left, at least 10 events.
  const left = options.events - identityEvents;
  if (left < options.organizations)
    throw new Error(`--events must exceed ${identityEvents + options.organizations}`);
  const perOrganization = Math.max(
    1,
    Math.min(options.conversations, Math.floor(left / options.organizations / 10)),
  );
  const total = perOrganization * options.organizations;
  const random = seededRandom(20261126);
  const thirtyDays = 30 * 24 * 3600_000;
  const streams = Array.from({ length: total }, (_, index) => {
    const org = identity.organizations[index % options.organizations];
    if (!org) throw new Error('no organization');
    const c = conversation(
      org,
      Math.floor(index / options.organizations),
      start + random() * thirtyDays,
      random,
    );
    const budget = Math.floor(left / total) + (index < left % total ? 1 : 0);
    return { name: `conversation-${c.id}`, events: c.events, budget, revision: -1n };
  });
  log(`  conversations: ${fixed(total)} (${fixed(perOrganization)} per organization), ${fixed(left)} events`);
  let appended = identityEvents;
  let shown = 0;
  for (let round = 0; streams.some((s) => s.budget > 0); round += 1) {
    const live = streams.filter((s) => s.budget > 0);
    await forEachLimited(live, options.inFlight, async (s) => {
      const events: NewEvent[] = [];
      while (events.length < Math.min(options.chunk, s.budget)) {
        const next = s.events.next();
        if (next.done) break;
        events.push(next.value);
      }
      const expected = s.revision === -1n ? 'no_stream' : s.revision;
      const result = await store.appendToStream(s.name, events, expected);
      s.revision = result.nextExpectedRevision;
      s.budget -= events.length;
      count(events);
      appended += events.length;
    });
    if (appended - shown >= 100_000 || !streams.some((s) => s.budget > 0)) {
      shown = appended;
      log(`  round ${round + 1}: ${fixed(appended)} events`);
    }
  }
  const usage = meter();
  return {
    events: appended,
    identityEvents,
    conversations: total,
    seconds: usage.wallMs / 1000,
    usage,
    byType,
  };
}

// ---------------------------------------------------------------------------------------------
// 2–3. Measures

type Row = {
  label: string;
  events: number;
  seconds: number;
  usage: Usage;
  otherTx: number;
  /** Seconds of the ceiling this row is compared with (same events, read without applying). */
  ceilingSeconds?: number;
};

type Context = { db: ScratchDatabase; store: PostgresEventStore; pool: DatabasePool; options: Options };

async function measure(ctx: Context, label: string, run: () => Promise<number>): Promise<Row> {
  log(`${label}…`);
  const others = await otherDatabaseTransactions(ctx.db.admin);
  const meter = startMeter();
  const events = await run();
  const usage = meter();
  const row = { label, events, seconds: usage.wallMs / 1000, usage, otherTx: 0 };
  row.otherTx = await otherTransactionsSince(ctx.db.admin, others);
  log(`  ${fixed(events)} events in ${fixed(row.seconds, 1)} s: ${fixed(events / row.seconds)}/s`);
  return row;
}

async function rebuild(ctx: Context, projection: Projection): Promise<number> {
  const result = await rebuildProjection({ store: ctx.store, pool: ctx.pool }, projection, {
    batchSize: ctx.options.batch,
    lanes: ctx.options.lanes,
  });
  return result.events;
}

/** The read models agree with the history: one row per conversation and per message, etc. */
async function checkReadModels(
  db: ScratchDatabase,
  history: History,
  rebuilt: Projection[],
): Promise<string[]> {
  const n = (type: string) => history.byType.get(type) ?? 0;
  const expected: [string, string, number][] = [
    ['conversations', 'rm.conversations', history.conversations],
    ['conversations', 'rm.messages', n('MessageReceived') + n('MessageQueued')],
    ['conversations', 'rm.notes', n('NoteAdded')],
    ['identity', 'rm.users', n('UserRegistered')],
    ['identity', 'rm.queues', n('QueueCreated')],
    ['identity', 'rm.channels', n('ChannelConnected')],
    ['outbound', 'outbound.pending', n('MessageQueued') - n('MessageSent') - n('MessageFailed')],
  ];
  const problems: string[] = [];
  const names = new Set(rebuilt.map((projection) => projection.name));
  for (const [projection, table, want] of expected) {
    if (!names.has(projection)) continue;
    const { rows } = await db.admin.query(`SELECT count(*)::int AS n FROM ${table}`);
    if (rows[0].n !== want) problems.push(`${table}: ${rows[0].n} rows, expected ${want}`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Report

const perEventUs = (row: Row, pct: number | null) =>
  pct === null ? Number.NaN : ((pct / 100) * row.seconds * 1e6) / Math.max(row.events, 1);

function rowCells(row: Row): string[] {
  const { nodeCpuPct, serverCpuPct, otherCpuPct } = row.usage;
  return [
    row.label,
    fixed(row.events),
    fixed(row.seconds, 1),
    fixed(row.events / row.seconds),
    row.ceilingSeconds === undefined ? '—' : fixed(row.ceilingSeconds / row.seconds, 2),
    `${fixed(nodeCpuPct)}/${fixed(serverCpuPct)}/${fixed(otherCpuPct)}`,
    `${fixed(perEventUs(row, nodeCpuPct), 1)}/${fixed(perEventUs(row, serverCpuPct), 1)}`,
    fixed(row.otherTx),
  ];
}

function profileTable(profile: Profile): string {
  const perEvent = (ms: number) => fixed((1000 * ms) / profile.events, 1);
  const queryMs = profile.statements.reduce((sum, row) => sum + row.ms, 0);
  const rows = profile.statements.map((row) => [
    row.statement,
    fixed(row.calls / profile.batches, 1),
    perEvent(row.ms),
    `${fixed((100 * row.ms) / profile.ms)}%`,
  ]);
  rows.push([
    'JavaScript (fold, JSON, the rest)',
    '—',
    perEvent(profile.ms - queryMs),
    `${fixed((100 * (profile.ms - queryMs)) / profile.ms)}%`,
  ]);
  rows.push(['all', '—', perEvent(profile.ms), '100%']);
  return formatTable(['statement', 'per batch', 'µs/event', 'share'], rows);
}

async function report(
  ctx: Context,
  history: History,
  rows: Row[],
  profile: Profile | null,
  problems: string[],
) {
  const cpus = os.cpus();
  const pgInfo = await postgresSettings(ctx.db.admin);
  const { rows: size } = await ctx.db.admin.query(
    `SELECT pg_size_pretty(pg_total_relation_size('es.events')) AS size,
            (SELECT avg(pg_column_size(data) + pg_column_size(metadata))::int FROM es.events) AS bytes`,
  );
  const { options } = ctx;
  const types = [...history.byType].sort((a, b) => b[1] - a[1]);
  const noisy = rows.filter((row) => (row.usage.otherCpuPct ?? 0) > 20 || row.otherTx > 500);
  return [
    `Replay benchmark — ${new Date().toISOString()}`,
    `Machine:  ${cpus[0]?.model.trim()}, ${cpus.length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, ` +
      `${os.type()} ${os.release()}, Node ${process.version}`,
    `Postgres: ${pgInfo.version}; ${pgInfo.settings}`,
    `History:  ${fixed(history.events)} events (${fixed(history.identityEvents)} identity) in es.events ` +
      `(${size[0].size}, ${size[0].bytes} bytes of data+metadata per event); ${options.organizations} organizations × ` +
      `${fixed(history.conversations / options.organizations)} conversations, ${options.users} users each; ` +
      `appended in ${fixed(history.seconds, 1)} s (${fixed(history.events / history.seconds)} events/s, ` +
      `${options.chunk} per append, ${options.inFlight} in flight)`,
    `          ${types.map(([type, n]) => `${type} ${fixed(n)}`).join(', ')}`,
    `Reads and rebuilds: pool ${options.pool}, pages of ${fixed(options.batch)} events, ${options.lanes} lanes (a transaction each)`,
    '',
    formatTable(
      [
        'measure',
        'events',
        's',
        'events/s',
        'ratio',
        'CPU node/pg/other %',
        'µs/event node/pg',
        'other-db tx',
      ],
      rows.map(rowCells),
    ),
    'ratio: the same events read without applying (readAll pages with the same filter) ÷ this, in time;',
    `for the rows over all projections, the unfiltered readAll. CPU: % of one core (${cpus.length * 100}% in all).`,
    ...(profile
      ? [
          '',
          `conversations projection, first ${fixed(profile.events)} of its events in ${fixed(profile.batches)} batches ` +
            '(wall time per statement, inside slonik calls: Postgres and the round trip included):',
          profileTable(profile),
        ]
      : []),
    '',
    ...problems.map((problem) => `FAILED: ${problem}`),
    ...(noisy.length > 0
      ? [
          `WARNING: something else was busy during: ${noisy.map((row) => row.label).join('; ')}. Do not quote.`,
        ]
      : []),
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Main

async function main(): Promise<boolean> {
  const options = parseOptions();
  const db = await createScratchDatabase('replay', logger, log);
  let pool: DatabasePool | undefined;
  let store: PostgresEventStore | undefined;
  const interrupted = () => void db.drop().finally(() => process.exit(130));
  for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, interrupted);
  try {
    // Autovacuum would wake at a random moment in one measure or another: es.* is vacuumed by hand.
    for (const table of ['es.events', 'es.streams'])
      await db.admin.query(`ALTER TABLE ${table} SET (autovacuum_enabled = false)`);
    pool = await createDatabasePool(db.url, Math.max(options.pool, 8));
    const registry = new SchemaRegistry();
    store = await PostgresEventStore.open({ pool, databaseUrl: db.url, registry, logger });
    log(`appending ${fixed(options.events)} events…`);
    const history = await appendHistory(store, options);
    await store.close();
    await pool.end();

    // As autovacuum leaves an insert-only table (visibility map, hint bits, statistics).
    log('VACUUM (ANALYZE) es.events, CHECKPOINT…');
    await db.admin.query('VACUUM (ANALYZE) es.events, es.streams');
    await db.admin.query('CHECKPOINT');
    pool = await createDatabasePool(db.url, options.pool);
    store = await PostgresEventStore.open({ pool, databaseUrl: db.url, registry, logger });
    const ctx: Context = { db, store, pool, options };
    const s = store;

    log('warm-up: one untimed bare read of es.events…');
    await rawKeysetRead(db.admin, options.batch);
    const rows: Row[] = [];
    const all = await measure(ctx, 'store: readAll pages, $all', () => readAllPages(s, options.batch));
    rows.push(all);
    rows.push(
      await measure(ctx, 'store: subscribeToAll catch-up', () => catchUp(s, history.events, options.batch)),
    );
    rows.push(
      await measure(ctx, 'bare pg: keyset SELECT, same pages', () => rawKeysetRead(db.admin, options.batch)),
    );

    let sequential: Row | undefined;
    for (const projection of options.only) {
      const filter = { eventTypes: projection.eventTypes };
      const read = await measure(ctx, `${projection.name}: readAll pages, its types`, () =>
        readAllPages(s, options.batch, filter),
      );
      const built = await measure(ctx, `${projection.name}: rebuildProjection`, () =>
        rebuild(ctx, projection),
      );
      if (built.events !== read.events)
        throw new Error(`${projection.name}: rebuilt ${built.events} of ${read.events} events`);
      built.ceilingSeconds = read.seconds;
      rows.push(read, built);
      sequential = sequential
        ? sum(sequential, built)
        : {
            ...built,
            label: `${options.only.length === allProjections.length ? 'all' : 'these'}, one after another (sum)`,
          };
    }
    if (sequential) rows.push({ ...sequential, ceilingSeconds: all.seconds });
    const problems = await checkReadModels(db, history, options.only);
    if (options.together) {
      const together = await measure(ctx, 'all at once (Promise.all)', async () => {
        const counts = await Promise.all(options.only.map((projection) => rebuild(ctx, projection)));
        return counts.reduce((total, n) => total + n, 0);
      });
      rows.push({ ...together, ceilingSeconds: all.seconds });
      problems.push(
        ...(await checkReadModels(db, history, options.only)).map(
          (problem) => `after all at once: ${problem}`,
        ),
      );
    }

    let profile: Profile | null = null;
    const conversations = options.only.find((projection) => projection.name === 'conversations');
    if (options.profile > 0 && conversations) {
      log(`profiling the conversations projection over ${fixed(options.profile)} events…`);
      profile = await profileProjection({ store: s, pool }, conversations, options.profile, options.batch);
    }
    process.stdout.write(`\n${await report(ctx, history, rows, profile, problems)}\n`);
    return problems.length === 0;
  } finally {
    await store?.close().catch(() => undefined);
    await pool?.end().catch(() => undefined);
    await db.drop();
  }
}

/** Two measures one after the other, as one: their events, time and CPU added up. */
function sum(a: Row, b: Row): Row {
  const seconds = a.seconds + b.seconds;
  const mix = (x: number | null, y: number | null) =>
    x === null || y === null ? null : (x * a.seconds + y * b.seconds) / seconds;
  return {
    label: a.label,
    events: a.events + b.events,
    seconds,
    otherTx: a.otherTx + b.otherTx,
    usage: {
      wallMs: seconds * 1000,
      nodeCpuPct: mix(a.usage.nodeCpuPct, b.usage.nodeCpuPct) ?? 0,
      serverCpuPct: mix(a.usage.serverCpuPct, b.usage.serverCpuPct),
      otherCpuPct: mix(a.usage.otherCpuPct, b.usage.otherCpuPct),
      iowaitPct: mix(a.usage.iowaitPct, b.usage.iowaitPct),
    },
  };
}

try {
  if (!(await main())) process.exitCode = 1;
} catch (error) {
  log(`bench:replay failed: ${error instanceof Error ? (error.stack ?? error.message) : error}`);
  process.exitCode = 1;
}
