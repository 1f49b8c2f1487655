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
 * ratio = webhooks/s ÷ min(A, B). Two more rows follow what an agent sees, the read models:
 *   burst: --burst-seconds of webhooks at full rate, then the drain, the time until every projection
 *      has caught up; end-to-end webhooks/s = acknowledged ÷ (burst + drain);
 *   cold: --cold-customers the server has never seen, one first message each (a new stream, contact
 *      and inbox row), each body sent once, first thing after the server starts: no warm-up at all.
 * Every figure comes with the CPU split between the client, the process under test, Postgres and
 * everything else: on 2 cores, they all compete.
 */

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { migrate } from '../../src/db/migrate.ts';
import { createLogger } from '../../src/log/logger.ts';
import { integerFlag, integerListFlag, readFlags } from './flags.ts';
import { batchesAfter, lastPosition } from './ingest/batches.ts';
import { writeSignedBodies } from './ingest/bodies.ts';
import { measureDrain, untilCaughtUp } from './ingest/drain.ts';
import { benchServerConfig, type Child, freePort, startBareServer, startServer } from './ingest/processes.ts';
import {
  acknowledged,
  type DrainedRow,
  endToEnd,
  type IngestRun,
  report,
  type SteadyRow,
} from './ingest/report.ts';
import { deliveredOk, scrape, waitUntilIdle } from './ingest/serverMetrics.ts';
import { measureStoreCeiling } from './ingest/storeCeiling.ts';
import { type Conversation, createTenants, customers, waitForChannels } from './ingest/tenants.ts';
import { runWrk, type WrkLoad, type WrkResult } from './ingest/wrk.ts';
import { fixed } from './measure.ts';

const rowKinds = ['steady', 'burst', 'cold'] as const;
type RowKind = (typeof rowKinds)[number];

const flags = {
  only: [
    rowKinds.join(','),
    'rows to run: steady (one per --connections, with ceilings A and B), burst, cold',
  ],
  connections: ['64,128,256', 'wrk connections of the steady rows, one measured run each (comma-separated)'],
  threads: ['2', 'wrk threads'],
  seconds: ['15', 'length of each steady run'],
  warmup: ['5', 'length of the warm-up run (its own bodies), at the largest connection count'],
  burstSeconds: ['15', 'length of the burst, after which the drain is timed'],
  coldCustomers: ['10000', 'customers the cold row brings, one first message each'],
  loadConnections: ['128', 'wrk connections of the burst and cold rows'],
  storeSeconds: ['10', 'length of each event-store ceiling run'],
  organizations: ['10', 'organizations, one WhatsApp number each'],
  customers: ['100', 'customers per organization, one conversation each'],
  pool: ['20', "Postgres pool of the server (DATABASE_POOL_SIZE) and of ceiling B's store"],
  cpuProf: ['', 'a folder: the server writes a CPU profile there when it stops (node --cpu-prof)'],
} as const;
type Options = { [key in Exclude<keyof typeof flags, 'only' | 'connections' | 'cpuProf'>]: number } & {
  only: Set<RowKind>;
  connections: number[];
  cpuProf: string | undefined;
};

function rowKindsFlag(raw: string): Set<RowKind> {
  const only = raw.split(',');
  const unknown = only.filter((kind) => !(rowKinds as readonly string[]).includes(kind));
  if (unknown.length > 0) throw new Error(`--only: no row ${unknown.join(', ')} (${rowKinds.join(', ')})`);
  return new Set(only as RowKind[]);
}

function parseOptions(): Options {
  const raw = readFlags('npm run bench:ingest', flags);
  const options = Object.fromEntries(
    Object.entries(raw).map(([key, value]) => {
      if (key === 'cpuProf') return [key, value || undefined];
      if (key === 'only') return [key, rowKindsFlag(value)];
      return [key, key === 'connections' ? integerListFlag(key, value) : integerFlag(key, value)];
    }),
  ) as Options;
  const conversations = options.organizations * options.customers;
  for (const connections of options.connections) {
    // wrk gives each thread connections/threads; ceiling B gives each in-flight append its own streams.
    if (connections < options.threads || connections > conversations)
      throw new Error(`--connections: each must be between --threads and the ${conversations} conversations`);
  }
  if (options.loadConnections < options.threads)
    throw new Error('--load-connections must be at least --threads');
  // Each wrk thread needs a body of its own to send.
  if (options.coldCustomers < options.threads) throw new Error('--cold-customers must be at least --threads');
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
// Measures

type Context = {
  options: Options;
  admin: pg.Client;
  dir: string;
  secret: string;
  /** The customers of the warm-up and of the steady and burst rows. */
  conversations: Conversation[];
  server: Child & { base: string };
};

/**
 * Before each measured run, so that every run starts alike: the read side caught up with the runs
 * before, fresh statistics and a checkpoint.
 */
async function settle(admin: pg.Client): Promise<void> {
  const started = performance.now();
  await untilCaughtUp(admin, '0');
  log(`  read side caught up in ${fixed((performance.now() - started) / 1000, 1)} s`);
  // Autovacuum is off in es.* (see main): ANALYZE does what it would do for a growing table.
  await admin.query('ANALYZE es.events, es.streams');
  await admin.query('CHECKPOINT');
}

/** A run's bodies: the prefix of their files, the prefix of their wamids, how many. */
type Bodies = { prefix: string; wamidPrefix: string; count: number };

/** Writes `count` fresh bodies for a run named `tag`, round-robin over `conversations`. */
function bodiesFor(ctx: Context, tag: string, count: number, conversations = ctx.conversations): Bodies {
  const prefix = join(ctx.dir, `bodies-${tag}`);
  const wamidPrefix = `wamid.HBgMNTUxMTk4NzY1NDMyFQIAEhgg${tag}x`;
  log(`  writing ${fixed(count)} signed bodies…`);
  writeSignedBodies(prefix, {
    conversations,
    count,
    threads: ctx.options.threads,
    secret: ctx.secret,
    wamidPrefix,
  });
  return { prefix, wamidPrefix, count };
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
  const from = await lastPosition(ctx.admin);
  const warm = await runWrk(`${ctx.server.base}/webhooks/meta`, prefix, load, ctx.server.pid);
  if (warm.non2xx + warm.socketErrors > 0)
    throw new Error(`warm-up: ${warm.non2xx} answers not 2xx, ${warm.socketErrors} socket errors`);
  await waitUntilIdle(ctx.server.base);
  const { rows } = await ctx.admin.query(
    `SELECT count(*)::int AS n FROM es.events WHERE type = 'ConversationStarted' AND position > $1`,
    [from],
  );
  if (rows[0].n !== ctx.conversations.length)
    throw new Error(
      `warm-up started ${rows[0].n} of ${ctx.conversations.length} conversations: make it longer`,
    );
  log(`  ${fixed(warm.perSecond)} webhooks/s`);
  return warm.perSecond;
}

/** A run's load, with where the store and the server's counters stood before it. */
type Loaded = { wrk: WrkResult; from: string; before: Map<string, number> };

/**
 * The check that every acknowledged message of a run is in the store exactly once, once the server
 * is idle: the MessageReceived events of the run's wamids are distinct, match the server's count of
 * deliveries answered 200, and lie between what wrk saw acknowledged and what it sent (requests in
 * flight when wrk stops are answered to nobody, but recorded). `cold`: every body is the first
 * message of a new conversation, and all of them were sent.
 */
async function checkRun(ctx: Context, run: Loaded, bodies: Bodies, cold: boolean) {
  const { wrk, from, before } = run;
  const after = await scrape(ctx.server.base);
  const delivered = (after.get(deliveredOk) ?? 0) - (before.get(deliveredOk) ?? 0);
  const { rows } = await ctx.admin.query(
    `SELECT count(*) FILTER (WHERE type = 'MessageReceived')::int AS received,
            count(DISTINCT data->>'waMessageId') FILTER (WHERE type = 'MessageReceived')::int AS wamids,
            count(*) FILTER (WHERE type = 'MessageReceived' AND starts_with(data->>'waMessageId', $2))::int AS ours,
            count(*) FILTER (WHERE type = 'ConversationStarted')::int AS started,
            count(*) FILTER (WHERE type NOT IN ('MessageReceived', 'ConversationStarted'))::int AS others
       FROM es.events WHERE position > $1`,
    [from, bodies.wamidPrefix],
  );
  const { received, wamids, ours, started, others } = rows[0];
  const answered = acknowledged(wrk);
  const problems = [
    wrk.non2xx > 0 && `${wrk.non2xx} answers were not 2xx`,
    wrk.socketErrors > 0 && `${wrk.socketErrors} socket errors or timeouts`,
    wrk.wraps > 0 && `bodies ran out (${wrk.wraps} wraps): some were sent twice`,
    (received !== wamids || received !== ours) &&
      `${received} MessageReceived for ${wamids} distinct wamids (${ours} of this run)`,
    received !== delivered && `${received} MessageReceived, ${delivered} deliveries answered 200`,
    (received < answered || received > wrk.sent) &&
      `${received} MessageReceived, outside [${answered} acknowledged, ${wrk.sent} sent]`,
    cold && received !== bodies.count && `${received} of the ${bodies.count} first messages recorded`,
    cold && started !== received && `${started} ConversationStarted for ${received} first messages`,
    !cold && started > 0 && `${started} ConversationStarted: some conversations were new`,
    others > 0 &&
      `${others} other events (expected only MessageReceived${cold ? ' and ConversationStarted' : ''})`,
  ].filter((problem): problem is string => typeof problem === 'string');
  return { received: received as number, events: (received + started + others) as number, problems };
}

/** One steady run against the server, then checkRun. */
async function ingestRun(ctx: Context, load: WrkLoad, bodies: Bodies): Promise<IngestRun> {
  const { admin, server } = ctx;
  const from = await lastPosition(admin);
  const before = await scrape(server.base);
  const wrk = await runWrk(`${server.base}/webhooks/meta`, bodies.prefix, load, server.pid);
  const appended = await admin.query('SELECT count(*)::int AS n FROM es.events WHERE position > $1', [from]);
  const eventsPerSecond = appended.rows[0].n / wrk.seconds;
  await waitUntilIdle(server.base);
  const { problems } = await checkRun(ctx, { wrk, from, before }, bodies, false);
  return { ...wrk, eventsPerSecond, batches: await batchesAfter(admin, from), problems };
}

/**
 * A run whose read side is timed: the load, the drain (measureDrain, from the moment wrk has
 * stopped), checkRun, then the read models: each message of the run once in rm.messages and, for the
 * cold row, each new conversation in the inbox.
 */
async function drainedRun(
  ctx: Context,
  kind: DrainedRow['kind'],
  load: WrkLoad,
  bodies: Bodies,
): Promise<DrainedRow> {
  const { admin, server } = ctx;
  const cold = kind === 'cold';
  await settle(admin);
  const from = await lastPosition(admin);
  const before = await scrape(server.base);
  const wrk = await runWrk(`${server.base}/webhooks/meta`, bodies.prefix, load, server.pid, cold);
  const drain = await measureDrain(admin, server, from);
  const check = await checkRun(ctx, { wrk, from, before }, bodies, cold);
  const { rows } = await admin.query(
    `SELECT count(*)::int AS messages, count(DISTINCT wa_message_id)::int AS wamids,
            (SELECT count(*)::int FROM rm.conversations WHERE position > $2) AS inbox
       FROM rm.messages WHERE starts_with(wa_message_id, $1)`,
    [bodies.wamidPrefix, from],
  );
  const { messages, wamids, inbox } = rows[0];
  const problems = [
    ...check.problems,
    messages !== check.received && `${messages} rows in rm.messages for ${check.received} MessageReceived`,
    wamids !== messages && `${messages - wamids} rows in rm.messages repeat a wamid`,
    cold && inbox !== check.received && `${inbox} inbox rows for ${check.received} new conversations`,
  ].filter((problem): problem is string => typeof problem === 'string');
  const stored = { messages, received: check.received };
  const row = { kind, wrk, events: check.events, drain, stored, problems };
  log(
    `  ${fixed(acknowledged(wrk))} acknowledged in ${fixed(wrk.seconds, 1)} s, drained in ` +
      `${fixed(drain.seconds, 2)} s: ${fixed(endToEnd(row))} webhooks/s end to end`,
  );
  return row;
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

  // 2. The server.
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

  // 3. Tenants, over HTTP. The cold row's customers come after the others: no one the others know.
  const base = `http://127.0.0.1:${port}`;
  const phoneNumberIds = await createTenants(base, options.organizations);
  await waitForChannels(db.admin, options.organizations);
  const known = options.organizations * options.customers;
  const ctx: Context = {
    options,
    admin: db.admin,
    dir,
    secret,
    conversations: customers(phoneNumberIds, 0, known),
    server: { ...server, base },
  };
  const load = { threads: options.threads, connections: options.loadConnections };
  const drained: DrainedRow[] = [];

  // 4. The cold row first: no webhook has reached the server yet, and none of these customers will
  // write again. Each body is sent once; -d only bounds the run.
  if (options.only.has('cold')) {
    log(`cold: ${fixed(options.coldCustomers)} new customers, -c${load.connections}`);
    const newcomers = customers(phoneNumberIds, known, options.coldCustomers);
    const bodies = bodiesFor(ctx, 'cold', newcomers.length, newcomers);
    drained.push(await drainedRun(ctx, 'cold', { ...load, seconds: 600 }, bodies));
  }

  // 5. Warm-up, then per connection count: the server, and ceiling A on the same bodies (its endpoint
  // idles while the server is measured), then the burst.
  const runs: Omit<SteadyRow, 'store'>[] = [];
  if (options.only.has('steady') || options.only.has('burst')) {
    const warmRate = await warmUp(ctx);
    if (options.only.has('steady')) {
      const bare = await startBareServer(join(dir, 'bare.log'));
      cleanups.push(() => bare.stop());
      for (const connections of options.connections) {
        const steady = { threads: options.threads, connections, seconds: options.seconds };
        log(`-t${steady.threads} -c${connections}, ${steady.seconds} s`);
        // Twice the warm-up's rate: a run that still runs out is reported, not quoted.
        const bodies = bodiesFor(ctx, `c${connections}`, Math.ceil(2 * warmRate * options.seconds));
        await settle(db.admin);
        const ingest = await ingestRun(ctx, steady, bodies);
        log(`  server: ${fixed(ingest.perSecond)} webhooks/s, ${fixed(ingest.eventsPerSecond)} events/s`);
        const bareRun = await runWrk(
          `http://127.0.0.1:${bare.port}/webhooks/meta`,
          bodies.prefix,
          steady,
          bare.pid,
        );
        log(`  ceiling A, bare uWS: ${fixed(bareRun.perSecond)} requests/s`);
        runs.push({ load: steady, ingest, bare: bareRun });
      }
      await bare.stop();
    }
    if (options.only.has('burst')) {
      log(`burst: -c${load.connections}, ${options.burstSeconds} s, then the drain`);
      const bodies = bodiesFor(ctx, 'burst', Math.ceil(2 * warmRate * options.burstSeconds));
      drained.push(await drainedRun(ctx, 'burst', { ...load, seconds: options.burstSeconds }, bodies));
    }
  }

  // 6. Ceiling B with the server stopped: its projections would wake on every batch appended.
  await server.stop();
  const rows: SteadyRow[] = [];
  for (const run of runs) {
    log(`ceiling B, event store: ${run.load.connections} appends in flight, ${options.storeSeconds} s`);
    const store = await measureStoreCeiling(
      { url: db.url, admin: db.admin, logger },
      {
        streams: ctx.conversations.length,
        inFlight: run.load.connections,
        seconds: options.storeSeconds,
        pool: options.pool,
      },
    );
    log(`  ${fixed(store.appendsPerSecond)} appends/s`);
    rows.push({ ...run, store });
  }

  process.stdout.write(`\n${await report(db.admin, options, wrk, rows, drained)}\n`);
  return [...rows.map((row) => row.ingest.problems), ...drained.map((row) => row.problems)].every(
    (problems) => problems.length === 0,
  );
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
