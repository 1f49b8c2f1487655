/**
 * Agent-console fan-out benchmark: `npm run bench:fanout [-- --help]`.
 *
 * The real server (`node --import tsx src/main.ts`, a child process) on a throwaway database
 * pytake_bench_fanout_<random>. Over HTTP: 10 organizations, each with a WhatsApp number, org admins
 * (who see the whole inbox) and agents in queues (who see their own and their queues'
 * conversations); 100 conversations each, started by a webhook and assigned to a queue and an agent.
 * A separate client process (fanout/clients.ts) opens --clients WebSockets on /ws spread over the
 * organizations, authenticated as those users (bearer subprotocol or ?access_token=), each
 * subscribed to `inbox`, half of them to conversation topics too. Then, per rate, this process
 * POSTs signed webhooks on a fixed schedule (fanout/driver.ts), each message's due time in its text,
 * and the client process counts every delta (none may be lost) and times it. After each rate, the
 * server's /metrics (fanout/serverMetrics.ts) tells where that time went: p50/p99 of each hop of its
 * delta timing (append → projected → published → received → socket).
 *
 * Ceiling, in the same run: a bare uWS server (fanout/bareServer.ts) publishing frames of the same
 * size natively to the same number of sockets, as fast as the same client process takes them.
 * ratio = deliveries/s of the best lossless rate ÷ the bare server's deliveries/s.
 */

import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '../../src/log/logger.ts';
import { hops } from '../../src/realtime/deltaTiming.ts';
import { collectGarbage, type IpcChild, residentBytes, spawnIpc } from './fanout/children.ts';
import { type FanoutCpu, startFanoutMeter } from './fanout/cpu.ts';
import { type DriveResult, drive, signedWebhooks } from './fanout/driver.ts';
import {
  type ConnectionPlan,
  type ConversationPlan,
  epochMs,
  type FromBare,
  type FromClients,
  type Plan,
  type RunResult,
  type RunSpec,
  type ToBare,
  type ToClients,
} from './fanout/protocol.ts';
import { increase, type ServerTiming, scrape, serverTiming } from './fanout/serverMetrics.ts';
import {
  assignConversations,
  createFanoutTenants,
  type FanoutConversation,
  type FanoutTenant,
  planConversations,
} from './fanout/tenants.ts';
import { integerFlag, integerListFlag, readFlags } from './flags.ts';
import { benchServerConfig, freePort, startServer } from './ingest/processes.ts';
import { waitForChannels } from './ingest/tenants.ts';
import { fixed, formatTable } from './measure.ts';
import { createScratchDatabase, postgresSettings, type ScratchDatabase } from './scratchDatabase.ts';

const flags = {
  clients: ['2000', 'WebSockets, spread round-robin over the organizations'],
  rates: ['100,200,400', 'webhooks per second, one measured run each (comma-separated)'],
  seconds: ['20', 'length of each run'],
  organizations: ['10', 'organizations'],
  admins: ['4', 'org admins per organization (they see the whole inbox)'],
  agents: ['8', 'agents per organization (they see their own and their queues’ conversations)'],
  queues: ['4', 'queues per organization, the agents spread over them'],
  conversations: ['100', 'conversations per organization, each assigned to a queue and an agent'],
  agentEvery: ['4', 'every Nth socket of an organization is an agent’s; the others an admin’s'],
  topics: ['2', 'conversation topics of every other socket (besides inbox)'],
  bareSeconds: ['10', 'length of the bare uWS ceiling run'],
  pool: ['20', 'Postgres pool of the server (DATABASE_POOL_SIZE)'],
} as const;
type Options = { [key in Exclude<keyof typeof flags, 'rates'>]: number } & { rates: number[] };

function parseOptions(): Options {
  const raw = readFlags('npm run bench:fanout', flags);
  const options = Object.fromEntries(
    Object.entries(raw).map(([key, value]) => [
      key,
      key === 'rates' ? integerListFlag(key, value) : integerFlag(key, value),
    ]),
  ) as Options;
  if (options.topics > options.conversations) throw new Error('--topics: at most --conversations');
  return options;
}

const log = (message: string) => process.stderr.write(`${message}\n`);
const logger = createLogger(process.env.BENCH_LOG_LEVEL ?? 'warn', process.stderr);
const mib = (bytes: number) => bytes / 2 ** 20;

/** Resources to release on the way out, last acquired first, even after a failure or Ctrl-C. */
const cleanups: (() => Promise<unknown>)[] = [];
async function cleanUp(): Promise<void> {
  for (const cleanup of cleanups.splice(0).reverse()) {
    await cleanup().catch((error: unknown) => log(`cleanup failed: ${error}`));
  }
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await sleep(100);
  }
}

// ---------------------------------------------------------------------------------------------
// The sockets

/**
 * Socket i belongs to organization i mod n. Every `agentEvery`-th socket of an organization is an
 * agent's (restricted inbox), the others an admin's (whole inbox); users have several sockets (tabs
 * and devices). Every other socket also follows `topics` conversations its user may see. Half the
 * sockets send the token as the bearer subprotocol, half as ?access_token=.
 */
function planConnections(
  port: number,
  options: Options,
  tenants: FanoutTenant[],
  conversations: FanoutConversation[],
): ConnectionPlan[] {
  return Array.from({ length: options.clients }, (_, i) => {
    const tenant = tenants[i % tenants.length] as FanoutTenant;
    const local = Math.floor(i / tenants.length);
    const restricted = local % options.agentEvery === options.agentEvery - 1;
    const users = restricted ? tenant.agents : tenant.admins;
    const user = users[local % users.length] as FanoutTenant['admins'][number];
    const visible = conversations
      .map((conversation, index) => ({ conversation, index }))
      .filter(
        ({ conversation }) =>
          conversation.organization === tenant.index &&
          (!restricted ||
            conversation.assigneeId === user.id ||
            (conversation.queueId !== null && user.queueIds.includes(conversation.queueId))),
      );
    const topics =
      local % 2 === 0 && visible.length > 0
        ? Array.from(
            new Set(
              Array.from(
                { length: Math.min(options.topics, visible.length) },
                (_, t) => visible[(local * 7 + t * 13) % visible.length]?.index as number,
              ),
            ),
          )
        : [];
    const byProtocol = i % 2 === 0;
    return {
      url: `ws://127.0.0.1:${port}/ws${byProtocol ? '' : `?access_token=${encodeURIComponent(user.token)}`}`,
      protocols: byProtocol ? ['pytake.v1', `bearer.${user.token}`] : ['pytake.v1'],
      organization: tenant.index,
      inbox: restricted ? 'restricted' : 'everything',
      userId: user.id,
      queueIds: user.queueIds,
      conversations: topics,
      sendSubscribe: true,
    };
  });
}

type Clients = IpcChild<ToClients, FromClients>;

async function startClients(dir: string, plan: Plan, name: string) {
  const clients: Clients = spawnIpc('scripts/bench/fanout/clients.ts', join(dir, `${name}.log`));
  cleanups.push(() => clients.stop());
  clients.send({ op: 'connect', plan });
  const connected = await clients.next('connected', 600_000);
  log(
    `  ${fixed(connected.opened)} sockets open, ${fixed(connected.subscriptions)} subscriptions, in ` +
      `${fixed(connected.seconds, 1)} s${connected.failed ? `; ${connected.failed} FAILED: ${connected.errors.join('; ')}` : ''}`,
  );
  if (connected.errors.length > 0) log(`  errors: ${connected.errors.join('; ')}`);
  return { clients, connected };
}

// ---------------------------------------------------------------------------------------------
// Runs

/** Resident memory (RSS) and JavaScript heap in use, after full garbage collections, without and with the sockets. */
type Memory = { before: number; after: number; heapBefore: number; heapAfter: number };

/** The process's JS heap and RSS once garbage is collected. */
async function memoryOf(pid: number, logPath: string): Promise<{ rss: number; heap: number }> {
  const heap = await collectGarbage(logPath);
  await sleep(500);
  return { rss: residentBytes(pid), heap };
}

const perSocket = (before: number, after: number, sockets: number) => (after - before) / sockets;

type Run = {
  label: string;
  rate: number | null;
  result: RunResult;
  seconds: number;
  drive: DriveResult | null;
  cpu: FanoutCpu | null;
  framesSent: number | null;
  closedSlow: number | null;
  /** The server's own delta timing for the run (/metrics), null for the bare run. */
  timing: ServerTiming | null;
  problems: string[];
};

const deliveriesPerSecond = (run: Run) => run.result.delivered / run.seconds;

async function webhookRun(
  ctx: { db: ScratchDatabase; base: string; serverPid: number; clients: Clients; secret: string },
  conversations: FanoutConversation[],
  first: number,
  rate: number,
  seconds: number,
): Promise<Run> {
  const count = rate * seconds;
  const tag = `r${rate}`;
  const startAt = epochMs() + 1500;
  const webhooks = signedWebhooks({ conversations, first, count, rate, startAt, secret: ctx.secret, tag });
  if (epochMs() > startAt - 200) throw new Error('signing the bodies took too long');
  const spec: RunSpec = {
    first,
    count,
    startAt,
    mode: 'exact',
    quietMs: 10_000,
    notBefore: (webhooks.at(-1)?.at ?? startAt) + 100,
  };
  const { rows: before } = await ctx.db.admin.query('SELECT coalesce(max(position), 0) AS p FROM es.events');
  const metricsBefore = await scrape(ctx.base);
  ctx.clients.send({ op: 'run', run: spec });
  const meter = startFanoutMeter({ server: ctx.serverPid, clients: ctx.clients.pid });
  // Enough connections that slow answers (up to a second at 1,000/s) do not hold sends back.
  const driven = await drive(ctx.base, webhooks, 1024);
  const result = await ctx.clients.next('result', (seconds + 300) * 1000);
  const cpu = meter();
  const metricsAfter = await scrape(ctx.base);
  // 1. Every webhook answered 200 appended one MessageReceived, and nothing else was appended.
  const { rows } = await ctx.db.admin.query(
    `SELECT count(*) FILTER (WHERE type = 'MessageReceived' AND starts_with(data->>'waMessageId', $2))::int AS ours,
            count(*) FILTER (WHERE NOT (type = 'MessageReceived' AND starts_with(data->>'waMessageId', $2)))::int AS others
       FROM es.events WHERE position > $1`,
    [before[0].p, `wamid.HBgMfanout${tag}x`],
  );
  const problems = [
    driven.ok !== count &&
      `${count - driven.ok} webhooks not answered 200: ${JSON.stringify([...driven.failures])}`,
    rows[0].ours !== driven.ok && `${rows[0].ours} MessageReceived for ${driven.ok} webhooks answered 200`,
    rows[0].others > 0 && `${rows[0].others} other events appended during the run`,
    result.lost > 0 && `${result.lost} deltas lost`,
    result.duplicates > 0 && `${result.duplicates} duplicate deltas`,
    result.unexpected > 0 && `${result.unexpected} unexpected frames`,
    result.closed.length > 0 &&
      `${result.closed.length} sockets closed: ${result.closed.slice(0, 3).join('; ')}`,
  ].filter((problem): problem is string => typeof problem === 'string');
  return {
    label: `${rate} webhooks/s`,
    rate,
    result,
    seconds: (result.lastAt - startAt) / 1000,
    drive: driven,
    cpu,
    framesSent: increase(metricsBefore, metricsAfter, 'ws_frames_sent_total'),
    closedSlow: increase(metricsBefore, metricsAfter, 'ws_closed_slow_total'),
    timing: serverTiming(metricsBefore, metricsAfter),
    problems,
  };
}

async function bareRun(
  dir: string,
  options: Options,
  frameBytes: number,
): Promise<{ run: Run; memory: Memory }> {
  const bareLog = join(dir, 'bare.log');
  const bare = spawnIpc<ToBare, FromBare>('scripts/bench/fanout/bareServer.ts', bareLog, [
    '--inspect=127.0.0.1:0',
  ]);
  cleanups.push(() => bare.stop());
  const { port } = await bare.next('listening', 30_000);
  const before = await memoryOf(bare.pid, bareLog);
  const organizations = options.organizations;
  const plan: Plan = {
    organizations,
    concurrency: 50,
    conversations: Array.from({ length: organizations }, (_, organization) => ({
      id: `topic-${organization}`,
      organization,
      assigneeId: null,
      queueId: null,
    })) satisfies ConversationPlan[],
    connections: Array.from({ length: options.clients }, (_, i) => ({
      url: `ws://127.0.0.1:${port}/ws?topic=org-${i % organizations}`,
      protocols: [],
      organization: i % organizations,
      inbox: 'everything',
      userId: '',
      queueIds: [],
      conversations: [],
      sendSubscribe: false,
    })),
  };
  const { clients } = await startClients(dir, plan, 'bare-clients');
  const after = await memoryOf(bare.pid, bareLog);
  log(`bare uWS: publishing ${fixed(frameBytes)}-byte frames for ${options.bareSeconds} s…`);
  const startAt = epochMs();
  const spec: RunSpec = {
    first: 0,
    count: Number.MAX_SAFE_INTEGER,
    startAt,
    mode: 'count',
    quietMs: 5_000,
    notBefore: startAt,
  };
  clients.send({ op: 'run', run: spec });
  const meter = startFanoutMeter({ server: bare.pid, clients: clients.pid });
  bare.send({ op: 'publish', first: 0, seconds: options.bareSeconds, organizations, frameBytes });
  const published = await bare.next('published', (options.bareSeconds + 60) * 1000);
  clients.send({ op: 'published', count: published.count });
  const result = await clients.next('result', 300_000);
  const cpu = meter();
  clients.send({ op: 'exit' });
  await clients.stop();
  await bare.stop();
  const problems = [
    result.lost > 0 && `${result.lost} frames lost`,
    result.closed.length > 0 && `${result.closed.length} sockets closed`,
  ].filter((problem): problem is string => typeof problem === 'string');
  const run: Run = {
    label: 'bare uWS, native publish',
    rate: null,
    result,
    seconds: (result.lastAt - startAt) / 1000,
    drive: null,
    cpu,
    framesSent: null,
    closedSlow: null,
    timing: null,
    problems,
  };
  log(`  ${fixed(deliveriesPerSecond(run))} deliveries/s (${published.paused} pauses for slow sockets)`);
  return {
    run,
    memory: { before: before.rss, after: after.rss, heapBefore: before.heap, heapAfter: after.heap },
  };
}

// ---------------------------------------------------------------------------------------------
// Report

function report(
  pgInfo: { version: string; settings: string },
  shape: string,
  runs: Run[],
  bare: Run,
  memory: { server: Memory & { afterRuns: number }; bare: Memory },
  sockets: number,
): string {
  const cpus = os.cpus();
  const split = (cpu: FanoutCpu | null) =>
    cpu
      ? [cpu.server, cpu.clients, cpu.driver, cpu.postgres, cpu.other].map((pct) => fixed(pct)).join('/')
      : '—';
  const rows = [...runs, bare].map((run) => [
    run.label,
    run.drive ? `${fixed(run.drive.ok)}/${fixed(run.drive.sent)}` : '—',
    fixed(run.result.expected),
    fixed(run.result.delivered),
    fixed(run.result.lost),
    fixed(deliveriesPerSecond(run)),
    `${fixed(run.result.p50Ms, 1)}/${fixed(run.result.p99Ms, 1)}/${fixed(run.result.p999Ms, 1)}/${fixed(run.result.maxMs)}`,
    run.drive ? `${fixed(run.drive.answerP50Ms, 1)}/${fixed(run.drive.answerP99Ms, 1)}` : '—',
    run.drive ? `${fixed(run.drive.lateP99Ms, 1)}/${fixed(run.drive.lateMaxMs)}` : '—',
    split(run.cpu),
    fixed(run.result.busiestSecond * 100),
  ]);
  const pair = ({ p50, p99 }: { p50: number; p99: number }) => `${fixed(p50, 1)}/${fixed(p99, 1)}`;
  const hopRows = runs.flatMap(({ label, result, timing }) =>
    timing
      ? [
          [
            label,
            `${fixed(result.p50Ms, 1)}/${fixed(result.p99Ms, 1)}/${fixed(result.p999Ms, 1)}`,
            fixed(timing.deltas),
            pair(timing.hops.append_to_socket),
            ...hops.map((hop) => pair(timing.hops[hop])),
          ],
        ]
      : [],
  );
  const warnings = runs.flatMap((run) => [
    ...(run.result.busiestSecond > 0.9
      ? [
          `WARNING (${run.label}): the client process was busy ${fixed(run.result.busiestSecond * 100)}% of its ` +
            'busiest second: its latencies include its own queueing',
        ]
      : []),
    ...(run.drive && run.drive.lateP99Ms > 50
      ? [
          `WARNING (${run.label}): webhooks went out late (p99 ${fixed(run.drive.lateP99Ms)} ms): the load ` +
            'fell behind the rate asked for',
        ]
      : []),
  ]);
  const lossless = runs.filter((run) => run.problems.length === 0);
  const best = lossless.reduce<Run | undefined>(
    (a, b) => (a === undefined || deliveriesPerSecond(b) > deliveriesPerSecond(a) ? b : a),
    undefined,
  );
  const last = runs.at(-1)?.result;
  return [
    `WebSocket fan-out benchmark — ${new Date().toISOString()}`,
    `Machine:  ${cpus[0]?.model.trim()}, ${cpus.length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, ` +
      `${os.type()} ${os.release()}, Node ${process.version}`,
    `Postgres: ${pgInfo.version}; ${pgInfo.settings}`,
    `Load:     ${shape}`,
    `Frames:   inbox ${fixed(last?.bytesPerFrame.inbox)} bytes, conversation ${fixed(last?.bytesPerFrame.conversation)} bytes on average`,
    '',
    formatTable(
      [
        'run',
        'webhooks ok/sent',
        'deltas expected',
        'delivered',
        'lost',
        'deliveries/s',
        'latency p50/p99/p999/max ms',
        'webhook p50/p99 ms',
        'send late p99/max ms',
        'CPU server/clients/driver/pg/other %',
        'clients busiest s %',
      ],
      rows,
    ),
    `latency: from the webhook's due time to the frame's arrival in the client process; deliveries/s: ` +
      `frames ÷ (last frame − first due time); send late: when each webhook got its connection and was ` +
      `written, against its schedule. CPU: % of one core (${cpus.length * 100}% in all); clients busiest s: ` +
      `the client process's event-loop use in its busiest second (near 100%, it limits the measurement).`,
    '',
    formatTable(
      [
        'run',
        'webhook → delta p50/p99/p999 ms',
        'deltas timed',
        'append → socket',
        ...hops.map((hop) => hop.replaceAll('_to_', ' → ').replaceAll('_', ' ')),
      ],
      hopRows,
    ),
    'Per hop, p50/p99 ms, from the server: its realtime_delta_hop_seconds and realtime_delta_latency_seconds ' +
      'histograms, once per delta (interpolated within their buckets). The client figure also holds what ' +
      'comes before the append (the request, ingest) and after the socket write (loopback, the client).',
    '',
    ...(
      [
        ['Server', memory.server],
        ['Bare uWS', memory.bare],
      ] as const
    ).map(
      ([name, m]) =>
        `${name}, after full GCs: RSS ${fixed(mib(m.before), 1)} → ${fixed(mib(m.after), 1)} MiB with the ${fixed(sockets)} ` +
        `sockets (${fixed(perSocket(m.before, m.after, sockets) / 1024, 1)} KiB per socket), JS heap ` +
        `${fixed(mib(m.heapBefore), 1)} → ${fixed(mib(m.heapAfter), 1)} MiB (${fixed(perSocket(m.heapBefore, m.heapAfter, sockets) / 1024, 1)} KiB per socket)`,
    ),
    `Server RSS after the runs: ${fixed(mib(memory.server.afterRuns), 1)} MiB.`,
    best
      ? `ratio: ${best.label}, ${fixed(deliveriesPerSecond(best))} deliveries/s ÷ bare ${fixed(deliveriesPerSecond(bare))} = ` +
        `${fixed(deliveriesPerSecond(best) / deliveriesPerSecond(bare), 2)}`
      : 'ratio: no run passed',
    ...runs.map((run) =>
      run.framesSent === null
        ? ''
        : `${run.label}: server counted ${fixed(run.framesSent)} frames sent, ${fixed(run.closedSlow)} sockets closed as slow`,
    ),
    ...warnings,
    ...[...runs, bare].flatMap((run) => run.problems.map((problem) => `FAILED (${run.label}): ${problem}`)),
  ]
    .filter((line) => line !== '')
    .join('\n');
}

// ---------------------------------------------------------------------------------------------
// Main

async function main(): Promise<boolean> {
  const options = parseOptions();
  const app = readFileSync(new URL('../../src/app.ts', import.meta.url), 'utf8');
  if (!/createRealtimeGateway|realtimeGateway/.test(app))
    throw new Error('src/app.ts does not wire the WebSocket gateway (/ws) yet: nothing to measure');
  const dir = mkdtempSync(join(os.tmpdir(), 'pytake-bench-fanout-'));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));

  // 1. The database and the server.
  const db = await createScratchDatabase('fanout', logger, log);
  cleanups.push(() => db.drop());
  for (const table of ['es.events', 'es.streams'])
    await db.admin.query(`ALTER TABLE ${table} SET (autovacuum_enabled = false)`);
  const secret = randomBytes(16).toString('hex');
  const port = await freePort();
  const serverLog = join(dir, 'server.log');
  log('starting the server…');
  const server = await startServer(
    {
      ...(await benchServerConfig({
        databaseUrl: db.url,
        port,
        appSecret: secret,
        dataDir: join(dir, 'data'),
        pool: options.pool,
      })),
      // The tokens must outlive the run (the gateway closes a socket whose token expires).
      ACCESS_TOKEN_TTL_SECONDS: '7200',
    },
    serverLog,
    // For memoryOf: full garbage collections through the inspector before reading memory.
    ['--inspect=127.0.0.1:0'],
  );
  cleanups.push(() => server.stop());
  const base = `http://127.0.0.1:${port}`;

  // 2. Tenants, conversations started by a webhook each, assigned to a queue and an agent.
  log('creating the tenants…');
  const tenants = await createFanoutTenants(base, options);
  await waitForChannels(db.admin, options.organizations);
  const conversations = planConversations(tenants, options.conversations);
  log(`starting ${fixed(conversations.length)} conversations…`);
  const warm = signedWebhooks({
    conversations,
    first: 0,
    count: conversations.length,
    rate: 200,
    startAt: epochMs() + 500,
    secret,
    tag: 'warm',
  });
  const warmed = await drive(base, warm, 16);
  if (warmed.ok !== warm.length) throw new Error(`warm-up: ${JSON.stringify([...warmed.failures])}`);
  const countRows = async (where: string) =>
    (await db.admin.query(`SELECT count(*)::int AS n FROM rm.conversations WHERE ${where}`)).rows[0]
      .n as number;
  await waitFor('conversations projected', async () => (await countRows('true')) === conversations.length);
  await assignConversations(base, tenants, conversations);
  await waitFor(
    'assignments projected',
    async () => (await countRows('queue_id IS NOT NULL')) === conversations.length,
  );

  // 3. The sockets, in their own process; the server's memory before and after.
  const memoryBefore = await memoryOf(server.pid, serverLog);
  const connectionPlans = planConnections(port, options, tenants, conversations);
  log(`opening ${fixed(options.clients)} sockets…`);
  const { clients, connected } = await startClients(
    dir,
    { organizations: options.organizations, concurrency: 50, conversations, connections: connectionPlans },
    'clients',
  );
  if (connected.failed > 0)
    throw new Error(`${connected.failed} sockets failed: ${connected.errors.join('; ')}`);
  await sleep(1000);
  const memoryAfter = await memoryOf(server.pid, serverLog);

  // 4. One run per rate.
  const ctx = { db, base, serverPid: server.pid, clients, secret };
  const runs: Run[] = [];
  let first = conversations.length;
  for (const rate of options.rates) {
    log(`${rate} webhooks/s for ${options.seconds} s…`);
    await db.admin.query('ANALYZE es.events, es.streams');
    const run = await webhookRun(ctx, conversations, first, rate, options.seconds);
    first += rate * options.seconds;
    log(
      `  ${fixed(run.result.delivered)} of ${fixed(run.result.expected)} deltas, ${fixed(deliveriesPerSecond(run))}/s, ` +
        `p99 ${fixed(run.result.p99Ms, 1)} ms${run.problems.length ? `; ${run.problems.join('; ')}` : ''}`,
    );
    runs.push(run);
  }
  const rssAfterRuns = residentBytes(server.pid);
  clients.send({ op: 'exit' });
  await clients.stop();
  await server.stop();

  // 5. The ceiling, with the server stopped.
  const frameBytes = Math.round(runs.at(-1)?.result.bytesPerFrame.inbox ?? 600);
  const bare = await bareRun(dir, options, frameBytes);

  const subscriptionsPerSocket = connected.subscriptions / connected.opened;
  const shape =
    `${options.organizations} organizations × (${options.admins} admins, ${options.agents} agents in ${options.queues} queues, ` +
    `${options.conversations} conversations); ${fixed(connected.opened)} sockets (every ${options.agentEvery}th an agent's), ` +
    `${fixed(connected.subscriptions)} subscriptions (${fixed(subscriptionsPerSocket, 2)} per socket: inbox, and ${options.topics} ` +
    `conversation topics on every other socket); ${options.seconds} s per rate; server pool ${options.pool}`;
  const serverMemory = {
    before: memoryBefore.rss,
    after: memoryAfter.rss,
    heapBefore: memoryBefore.heap,
    heapAfter: memoryAfter.heap,
    afterRuns: rssAfterRuns,
  };
  const settings = await postgresSettings(db.admin);
  process.stdout.write(
    `\n${report(settings, shape, runs, bare.run, { server: serverMemory, bare: bare.memory }, connected.opened)}\n`,
  );
  return [...runs, bare.run].every((run) => run.problems.length === 0);
}

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
  log(`bench:fanout failed: ${error instanceof Error ? (error.stack ?? error.message) : error}`);
  process.exitCode = 1;
} finally {
  await cleanUp();
}
