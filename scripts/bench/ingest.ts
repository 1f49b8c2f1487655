/**
 * Webhook ingest benchmark: `npm run bench:ingest [-- --help]`.
 *
 * The real server (`node --import tsx src/main.ts`, a child process) on a throwaway database
 * pytake_bench_ingest_<random>, fed by wrk from another process over loopback with signed Meta
 * webhooks for 1,000 conversations (10 organizations × 100 customers), one text message each, no
 * body sent twice. Beside it, two ceilings measured in the same run:
 *   A. a bare uWS endpoint that reads the body and answers 200, under the same wrk load: what HTTP
 *      and the client cost on this machine;
 *   B. the event store's grouped append, one event per append to 1,000 streams, as many in flight as
 *      wrk has connections: what the durable write costs.
 * ratio = webhooks/s ÷ min(A, B). Every figure comes with the CPU split between the client, the
 * process under test, Postgres and everything else: on 2 cores, they all compete.
 */

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { migrate } from '../../src/db/migrate.ts';
import { createLogger } from '../../src/log/logger.ts';
import { integerFlag, integerListFlag, readFlags } from './flags.ts';
import { type Batches, batchesAfter, formatBatches, lastPosition } from './ingest/batches.ts';
import { writeSignedBodies } from './ingest/bodies.ts';
import type { CpuSplit } from './ingest/cpuSplit.ts';
import { benchServerConfig, type Child, freePort, startBareServer, startServer } from './ingest/processes.ts';
import { measureStoreCeiling, type StoreCeiling } from './ingest/storeCeiling.ts';
import { type Conversation, createTenants, waitForChannels } from './ingest/tenants.ts';
import { runWrk, type WrkLoad, type WrkResult } from './ingest/wrk.ts';
import { fixed, formatTable } from './measure.ts';

const flags = {
  connections: ['64,128,256', 'wrk connections, one measured run each (comma-separated)'],
  threads: ['2', 'wrk threads'],
  seconds: ['15', 'length of each measured wrk run'],
  warmup: ['5', 'length of the warm-up run (its own bodies), at the largest connection count'],
  storeSeconds: ['10', 'length of each event-store ceiling run'],
  organizations: ['10', 'organizations, one WhatsApp number each'],
  customers: ['100', 'customers per organization, one conversation each'],
  pool: ['20', "Postgres pool of the server (DATABASE_POOL_SIZE) and of ceiling B's store"],
  cpuProf: ['', 'a folder: the server writes a CPU profile there when it stops (node --cpu-prof)'],
} as const;
type Options = { [key in Exclude<keyof typeof flags, 'connections' | 'cpuProf'>]: number } & {
  connections: number[];
  cpuProf: string | undefined;
};

function parseOptions(): Options {
  const raw = readFlags('npm run bench:ingest', flags);
  const options = Object.fromEntries(
    Object.entries(raw).map(([key, value]) => {
      if (key === 'cpuProf') return [key, value || undefined];
      return [key, key === 'connections' ? integerListFlag(key, value) : integerFlag(key, value)];
    }),
  ) as Options;
  const conversations = options.organizations * options.customers;
  for (const connections of options.connections) {
    // wrk gives each thread connections/threads; ceiling B gives each in-flight append its own streams.
    if (connections < options.threads || connections > conversations)
      throw new Error(`--connections: each must be between --threads and the ${conversations} conversations`);
  }
  return options;
}

const log = (message: string) => process.stderr.write(`${message}\n`);
const logger = createLogger(process.env.BENCH_LOG_LEVEL ?? 'warn', process.stderr);
const { BENCH_DATABASE_URL, PYTAKE_TEST_ADMIN_URL } = process.env;
const adminUrl = BENCH_DATABASE_URL ?? PYTAKE_TEST_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Resources to release on the way out, last acquired first, even after a failure or Ctrl-C. */
const cleanups: (() => Promise<unknown>)[] = [];
async function cleanUp(): Promise<void> {
  for (const cleanup of cleanups.splice(0).reverse()) {
    await cleanup().catch((error: unknown) => log(`cleanup failed: ${error}`));
  }
}

/** `wrk 4.1.0`; throws when wrk is missing. (wrk -v exits 1 after printing its version.) */
function wrkVersion(): string {
  const { stdout, error } = spawnSync('wrk', ['-v'], { encoding: 'utf8' });
  if (error) throw new Error(`wrk: ${error.message} (Debian: apt-get install -y wrk)`);
  return stdout.split(' [')[0] ?? 'wrk';
}

/** A fresh database, dropped by cleanUp; its migrations run here, see main. */
async function createDatabase(): Promise<{ url: string; admin: pg.Client }> {
  const name = `pytake_bench_ingest_${randomBytes(4).toString('hex')}`;
  const server = new pg.Client({ connectionString: adminUrl, application_name: 'pytake-bench' });
  await server.connect();
  // Registered first: interrupted during CREATE, the database must still go.
  cleanups.push(async () => {
    await server.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`); // only ours
    await server.end();
    log(`dropped ${name}`);
  });
  await server.query(`CREATE DATABASE "${name}"`);
  log(`bench database ${name}`);
  const url = Object.assign(new URL(adminUrl), { pathname: `/${name}` }).toString();
  const admin = new pg.Client({ connectionString: url, application_name: 'pytake-bench' });
  await admin.connect();
  cleanups.push(() => admin.end());
  return { url, admin };
}

// ---------------------------------------------------------------------------------------------
// The server's own counters (GET /metrics)

async function scrape(base: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const samples = text.split('\n').flatMap((line) => {
    const match = /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    return match ? [[match[1] as string, Number(match[2])] as const] : [];
  });
  return new Map(samples);
}

const deliveredOk = 'whatsapp_webhook_deliveries_total{outcome="ok"}';

/**
 * Waits until the server has finished the requests wrk left in flight when it stopped (their
 * appends still happen). The scrape itself is one request in flight.
 */
async function waitUntilIdle(base: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while ((await scrape(base)).get('http_requests_in_flight') !== 1) {
    if (Date.now() > deadline) throw new Error('the server still has requests in flight after 30 s');
    await sleep(50);
  }
}

// ---------------------------------------------------------------------------------------------
// Measures

type Context = {
  options: Options;
  admin: pg.Client;
  dir: string;
  secret: string;
  conversations: Conversation[];
  server: Child & { base: string };
  bare: Child & { base: string };
};

/** Fresh statistics and a checkpoint before each measured run, so that every run starts alike. */
async function settle(admin: pg.Client): Promise<void> {
  // Autovacuum is off in es.* (see main): ANALYZE does what it would do for a growing table.
  await admin.query('ANALYZE es.events, es.streams');
  await admin.query('CHECKPOINT');
}

/** Writes `count` fresh bodies for a run named `tag`; returns the prefix of their files. */
function bodiesFor(ctx: Context, tag: string, count: number): { prefix: string; wamidPrefix: string } {
  const prefix = join(ctx.dir, `bodies-${tag}`);
  const wamidPrefix = `wamid.HBgMNTUxMTk4NzY1NDMyFQIAEhgg${tag}x`;
  log(`  writing ${fixed(count)} signed bodies…`);
  writeSignedBodies(prefix, {
    conversations: ctx.conversations,
    count,
    threads: ctx.options.threads,
    secret: ctx.secret,
    wamidPrefix,
  });
  return { prefix, wamidPrefix };
}

/**
 * Warm-up: every conversation starts (its first webhook also appends ConversationStarted), every
 * actor loads, and V8 optimises the path. Returns its rate, to size the measured runs' bodies.
 */
async function warmUp(ctx: Context): Promise<number> {
  const { options } = ctx;
  const connections = Math.max(...options.connections);
  log(`warm-up: ${options.warmup} s, -c${connections}`);
  // Sized for 20k/s; running out only repeats bodies here, which the server answers as no-ops.
  const { prefix } = bodiesFor(ctx, 'warm', Math.max(2 * ctx.conversations.length, options.warmup * 20_000));
  const load = { threads: options.threads, connections, seconds: options.warmup };
  const warm = await runWrk(`${ctx.server.base}/webhooks/meta`, prefix, load, ctx.server.pid);
  if (warm.non2xx + warm.socketErrors > 0)
    throw new Error(`warm-up: ${warm.non2xx} answers not 2xx, ${warm.socketErrors} socket errors`);
  await waitUntilIdle(ctx.server.base);
  const { rows } = await ctx.admin.query(
    `SELECT count(*)::int AS n FROM es.events WHERE type = 'ConversationStarted'`,
  );
  if (rows[0].n !== ctx.conversations.length)
    throw new Error(
      `warm-up started ${rows[0].n} of ${ctx.conversations.length} conversations: make it longer`,
    );
  log(`  ${fixed(warm.perSecond)} webhooks/s`);
  return warm.perSecond;
}

type IngestRun = WrkResult & { eventsPerSecond: number; batches: Batches; problems: string[] };

/**
 * One measured run against the server, then the check that every acknowledged message is in the
 * store exactly once: the MessageReceived events of the run's wamids are distinct, match the
 * server's count of deliveries answered 200, and lie between what wrk saw acknowledged and what it
 * sent (requests in flight when wrk stops are answered to nobody, but recorded).
 */
async function ingestRun(ctx: Context, load: WrkLoad, bodies: { prefix: string; wamidPrefix: string }) {
  const { admin, server } = ctx;
  const from = await lastPosition(admin);
  const before = await scrape(server.base);
  const wrk = await runWrk(`${server.base}/webhooks/meta`, bodies.prefix, load, server.pid);
  const appended = await admin.query('SELECT count(*)::int AS n FROM es.events WHERE position > $1', [from]);
  const eventsPerSecond = appended.rows[0].n / wrk.seconds;
  await waitUntilIdle(server.base);
  const after = await scrape(server.base);
  const delta = (key: string) => (after.get(key) ?? 0) - (before.get(key) ?? 0);
  const { rows } = await admin.query(
    `SELECT count(*) FILTER (WHERE type = 'MessageReceived')::int AS received,
            count(DISTINCT data->>'waMessageId') FILTER (WHERE type = 'MessageReceived')::int AS wamids,
            count(*) FILTER (WHERE type = 'MessageReceived' AND starts_with(data->>'waMessageId', $2))::int AS ours,
            count(*) FILTER (WHERE type <> 'MessageReceived')::int AS others
       FROM es.events WHERE position > $1`,
    [from, bodies.wamidPrefix],
  );
  const { received, wamids, ours, others } = rows[0];
  const acknowledged = wrk.requests - wrk.non2xx;
  const problems = [
    wrk.non2xx > 0 && `${wrk.non2xx} answers were not 2xx`,
    wrk.socketErrors > 0 && `${wrk.socketErrors} socket errors or timeouts`,
    wrk.wraps > 0 && `bodies ran out (${wrk.wraps} wraps): some were sent twice`,
    (received !== wamids || received !== ours) &&
      `${received} MessageReceived for ${wamids} distinct wamids (${ours} of this run)`,
    received !== delta(deliveredOk) &&
      `${received} MessageReceived, ${delta(deliveredOk)} deliveries answered 200`,
    (received < acknowledged || received > wrk.sent) &&
      `${received} MessageReceived, outside [${acknowledged} acknowledged, ${wrk.sent} sent]`,
    others > 0 && `${others} other events (expected only MessageReceived)`,
  ].filter((problem): problem is string => typeof problem === 'string');
  return { ...wrk, eventsPerSecond, batches: await batchesAfter(admin, from), problems } satisfies IngestRun;
}

// ---------------------------------------------------------------------------------------------
// Report

type Row = { load: WrkLoad; ingest: IngestRun; bare: WrkResult; store: StoreCeiling };

const ratioOf = (row: Row) => row.ingest.perSecond / Math.min(row.bare.perSecond, row.store.appendsPerSecond);
const split = (cpu: CpuSplit | null, keys: (keyof CpuSplit)[]) =>
  cpu ? keys.map((key) => fixed(cpu[key])).join('/') : '—';

async function report(admin: pg.Client, options: Options, wrk: string, rows: Row[]): Promise<string> {
  const settings = 'synchronous_commit fsync wal_sync_method shared_buffers';
  const pgInfo = await admin.query(
    `SELECT version(), string_agg(name || '=' || current_setting(name), ', ') AS settings
       FROM unnest(string_to_array($1, ' ')) AS name`,
    [settings],
  );
  const cpus = os.cpus();
  const figures = rows.map((row) => [
    `-t${row.load.threads} -c${row.load.connections}`,
    fixed(row.ingest.perSecond),
    fixed(row.ingest.p50Ms, 1),
    fixed(row.ingest.p99Ms, 1),
    fixed(row.ingest.eventsPerSecond),
    fixed(row.bare.perSecond),
    fixed(row.store.appendsPerSecond),
    fixed(ratioOf(row), 2),
  ]);
  const details = rows.map((row) => [
    `-c${row.load.connections}`,
    split(row.ingest.cpu, ['client', 'server', 'postgres', 'other']),
    formatBatches(row.ingest.batches),
    split(row.bare.cpu, ['client', 'server', 'other']),
    `${fixed(row.bare.p50Ms, 1)}/${fixed(row.bare.p99Ms, 1)}`,
    [row.store.usage.nodeCpuPct, row.store.usage.serverCpuPct, row.store.usage.otherCpuPct]
      .map((pct) => fixed(pct))
      .join('/'),
    formatBatches(row.store.batches),
    `${fixed(row.store.p50Ms, 1)}/${fixed(row.store.p99Ms, 1)}`,
  ]);
  const best = rows.reduce((a, b) => (b.ingest.perSecond > a.ingest.perSecond ? b : a));
  return [
    `Webhook ingest benchmark — ${new Date().toISOString()}`,
    `Machine:  ${cpus[0]?.model.trim()}, ${cpus.length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, ` +
      `${os.type()} ${os.release()}, Node ${process.version}, ${wrk}`,
    `Postgres: ${pgInfo.rows[0].version}`,
    `          ${pgInfo.rows[0].settings}`,
    `Load:     ${options.organizations} organizations × ${options.customers} customers, one text message per ` +
      `signed webhook, round-robin, none sent twice; ${options.seconds} s per run after a ${options.warmup} s ` +
      `warm-up; server pool ${options.pool}; ceiling B ${options.storeSeconds} s per run`,
    '',
    formatTable(
      'wrk|webhooks/s|p50 ms|p99 ms|events/s|A: bare uWS req/s|B: store appends/s|ratio'.split('|'),
      figures,
    ),
    '',
    formatTable(
      [
        'wrk',
        'ingest CPU wrk/node/pg/other',
        'events/tx avg/p50/max',
        'A CPU wrk/uWS/other',
        'A p50/p99 ms',
        'B CPU node/pg/other',
        'B events/tx',
        'B p50/p99 ms',
      ],
      details,
    ),
    `CPU: % of one core (${cpus.length * 100}% in all); A, B: the ceilings; events/tx: events per transaction.`,
    '',
    `Best: -c${best.load.connections}, ${fixed(best.ingest.perSecond)} webhooks/s. ` +
      'ratio = webhooks/s ÷ min(A, B), same connections; target ≥ 0.50.',
    ...rows.flatMap((row) =>
      row.ingest.problems.map((problem) => `FAILED (-c${row.load.connections}): ${problem}`),
    ),
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Main

async function main(): Promise<boolean> {
  const options = parseOptions();
  const wrk = wrkVersion();
  const dir = mkdtempSync(join(os.tmpdir(), 'pytake-bench-ingest-'));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));

  // 1. The database, migrated here so that autovacuum can be turned off in the event store before
  // the server starts: it would wake at a random moment in one run or another (on 2 cores, worth a
  // good part of a figure). settle() runs ANALYZE instead, before every run.
  const db = await createDatabase();
  await migrate(db.url, logger);
  for (const table of ['es.events', 'es.streams'])
    await db.admin.query(`ALTER TABLE ${table} SET (autovacuum_enabled = false)`);

  // 2. The server and ceiling A's endpoint, side by side: each idles while the other is measured.
  const secret = randomBytes(16).toString('hex');
  const port = await freePort();
  log('starting the server…');
  const server = await startServer(
    await benchServerConfig({
      databaseUrl: db.url,
      port,
      appSecret: secret,
      dataDir: join(dir, 'data'),
      pool: options.pool,
    }),
    join(dir, 'server.log'),
    options.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProf}`] : [],
  );
  cleanups.push(() => server.stop());
  const bare = await startBareServer(join(dir, 'bare.log'));
  cleanups.push(() => bare.stop());

  // 3. Tenants, over HTTP.
  const base = `http://127.0.0.1:${port}`;
  const conversations = await createTenants(base, options.organizations, options.customers);
  await waitForChannels(db.admin, options.organizations);
  const ctx: Context = {
    options,
    admin: db.admin,
    dir,
    secret,
    conversations,
    server: { ...server, base },
    bare: { ...bare, base: `http://127.0.0.1:${bare.port}` },
  };

  // 4. Warm-up, then per connection count: the server, and ceiling A on the same bodies.
  const warmRate = await warmUp(ctx);
  const runs: Omit<Row, 'store'>[] = [];
  for (const connections of options.connections) {
    const load = { threads: options.threads, connections, seconds: options.seconds };
    log(`-t${load.threads} -c${connections}, ${load.seconds} s`);
    // Twice the warm-up's rate: a run that still runs out is reported, not quoted.
    const bodies = bodiesFor(ctx, `c${connections}`, Math.ceil(2 * warmRate * options.seconds));
    await settle(db.admin);
    const ingest = await ingestRun(ctx, load, bodies);
    log(`  server: ${fixed(ingest.perSecond)} webhooks/s, ${fixed(ingest.eventsPerSecond)} events/s`);
    const bareRun = await runWrk(`${ctx.bare.base}/webhooks/meta`, bodies.prefix, load, bare.pid);
    log(`  ceiling A, bare uWS: ${fixed(bareRun.perSecond)} requests/s`);
    runs.push({ load, ingest, bare: bareRun });
  }

  // 5. Ceiling B with the server stopped: its projections would wake on every batch appended.
  await server.stop();
  await bare.stop();
  const rows: Row[] = [];
  for (const run of runs) {
    log(`ceiling B, event store: ${run.load.connections} appends in flight, ${options.storeSeconds} s`);
    const store = await measureStoreCeiling(
      { url: db.url, admin: db.admin, logger },
      {
        streams: conversations.length,
        inFlight: run.load.connections,
        seconds: options.storeSeconds,
        pool: options.pool,
      },
    );
    log(`  ${fixed(store.appendsPerSecond)} appends/s`);
    rows.push({ ...run, store });
  }

  process.stdout.write(`\n${await report(db.admin, options, wrk, rows)}\n`);
  return rows.every((row) => row.ingest.problems.length === 0);
}

// Ctrl-C reaches this process twice (from the terminal, and relayed by npm and tsx): clean up once.
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'])
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    void cleanUp().finally(() => process.exit(130));
  });
try {
  if (!(await main())) process.exitCode = 1;
} catch (error) {
  log(`bench:ingest failed: ${error instanceof Error ? error.message : error}`);
  process.exitCode = 1;
} finally {
  await cleanUp();
}
