/**
 * Flow-engine benchmark: `npm run bench:flow [-- --help]`. Flow steps per second through the
 * conversation actor, beside the actor's bare rate and the executor's CPU ceiling.
 *
 * On a throwaway database pytake_bench_flow_<random> (migrated, dropped at the end, no other touched):
 *   1. one organization's flows and chatbots appended as events (flow/seedFlows.ts); the projection
 *      runner fills the read models the FlowCatalog reads, and is stopped once caught up;
 *   2. CPU ceilings, no I/O (flow/pureCeilings.ts): runFlow in a tight loop, and the whole pure turn
 *      (decide + envelope + schema validation + evolve), for each flow;
 *   3. an untimed warm-up, then the timed scenarios, each C conversations × M messages, every message
 *      a ReceiveWebhook awaited before the next of its conversation (flow/driveConversations.ts):
 *      bare (the actor with no bot preparer), A "survey", B "compute", the bot preparer alone (what a
 *      bot turn adds in I/O: cached catalog look-ups and the contact read), and bare again;
 *   4. steps, turns and events counted back from es.events, then the table and the ratios.
 * The actor systems are built as src/app.ts builds them (FlowCatalog, botPreparer, ActorSystem with
 * the server's defaults), on a PostgresEventStore with the server's group commit (500 × 2).
 */

import os from 'node:os';
import type pg from 'pg';
import { ActorSystem, type ActorSystemOptions } from '../../src/actors/actorSystem.ts';
import { conversationBehaviour } from '../../src/conversation/conversationActor.ts';
import { initialConversationState } from '../../src/conversation/conversationState.ts';
import { createDatabasePool, type DatabasePool } from '../../src/db/pool.ts';
import { PostgresEventStore } from '../../src/eventstore/postgresEventStore.ts';
import { type BotPrepared, botPreparer } from '../../src/flow/botPreparation.ts';
import { FlowCatalog } from '../../src/flow/flowCatalog.ts';
import { createLogger } from '../../src/log/logger.ts';
import { SchemaRegistry } from '../../src/schemas/schemaRegistry.ts';
import { integerFlag, readFlags } from './flags.ts';
import {
  bareMessage,
  computeFlow,
  computeMessage,
  describeFlow,
  surveyFlow,
  surveyMessage,
} from './flow/definitions.ts';
import { customersOf, driveConversations, receiveText } from './flow/driveConversations.ts';
import { executorCeiling, type PureRun, turnCeiling } from './flow/pureCeilings.ts';
import { type Seeded, seedFlows } from './flow/seedFlows.ts';
import { fixed, formatTable, percentile, runLoops, type Usage } from './measure.ts';
import {
  createScratchDatabase,
  otherDatabaseTransactions,
  otherTransactionsSince,
  postgresSettings,
} from './scratchDatabase.ts';

const flags = {
  conversations: [1_000, 'conversations per timed scenario'],
  messages: [10, 'customer messages per conversation, each awaited before the next'],
  pool: [20, 'Postgres pool of the store, the catalog and the contact reads'],
  inFlight: [1_000, 'turns in flight at once (loops sharing the conversations)'],
  warmup: [100, 'conversations per scenario in the untimed warm-up (5 messages each)'],
  pureSeconds: [3, 'seconds of each CPU-ceiling loop'],
} as const;
type Options = { -readonly [key in keyof typeof flags]: number };

function parseOptions(): Options {
  const raw = readFlags('npm run bench:flow', flags);
  return Object.fromEntries(
    Object.entries(raw).map(([key, value]) => [key, integerFlag(key, value, key === 'warmup' ? 0 : 1)]),
  ) as Options;
}

const log = (message: string) => process.stderr.write(`${message}\n`);
const logger = createLogger(process.env.BENCH_LOG_LEVEL ?? 'warn', process.stderr);

/** FLOW_MAX_STEPS's default, as the server runs. */
const flowMaxSteps = 100;
/** The server's defaults (ACTOR_MAILBOX_LIMIT, ACTOR_IDLE_SECONDS; src/app.ts's retries). */
const actorOptions: ActorSystemOptions = { mailboxLimit: 1000, idleMs: 120_000, maxConflictRetries: 10 };

type Row = {
  label: string;
  turns: number;
  steps: number;
  events: number;
  usage: Usage;
  latencies?: Float64Array;
  otherTx?: number;
};

type Counted = {
  byType: Map<string, { events: number; bytes: number }>;
  steps: number;
  ended: Map<string, number>;
};

const seconds = (row: Row) => row.usage.wallMs / 1000;
const perSecond = (n: number, row: Row) => n / seconds(row);

async function lastPosition(admin: pg.Client): Promise<string> {
  const { rows } = await admin.query('SELECT coalesce(max(position), 0)::text AS p FROM es.events');
  return rows[0].p;
}

/** What a scenario appended: events by type (and their average data size), steps, ended runs. */
async function countAppended(admin: pg.Client, from: string, to: string): Promise<Counted> {
  const range = 'position > $1::bigint AND position <= $2::bigint';
  const { rows } = await admin.query(
    `SELECT type, count(*)::int AS n, avg(octet_length(data::text))::int AS bytes,
            coalesce(sum(jsonb_array_length(data->'steps')) FILTER (WHERE type = 'FlowAdvanced'), 0)::int AS steps
       FROM es.events WHERE ${range} GROUP BY type ORDER BY count(*) DESC`,
    [from, to],
  );
  const ended = await admin.query(
    `SELECT data->>'reason' AS reason, count(*)::int AS n FROM es.events
      WHERE ${range} AND type = 'FlowEnded' GROUP BY 1 ORDER BY 2 DESC`,
    [from, to],
  );
  return {
    byType: new Map(rows.map((row) => [row.type, { events: row.n, bytes: row.bytes }])),
    steps: rows.reduce((sum, row) => sum + row.steps, 0),
    ended: new Map(ended.rows.map((row) => [row.reason, row.n])),
  };
}

// ---------------------------------------------------------------------------------------------
// Report

function rowCells(row: Row): string[] {
  const { nodeCpuPct, serverCpuPct, otherCpuPct } = row.usage;
  const perTurnUs = (pct: number | null) =>
    pct === null ? Number.NaN : ((pct / 100) * seconds(row) * 1e6) / Math.max(row.turns, 1);
  const latency = (p: number) => (row.latencies ? fixed(percentile(row.latencies, p), 1) : '—');
  return [
    row.label,
    fixed(row.turns),
    fixed(seconds(row), 1),
    fixed(perSecond(row.turns, row)),
    fixed(row.steps),
    fixed(perSecond(row.steps, row)),
    row.events === 0 ? '—' : fixed(perSecond(row.events, row)),
    `${latency(50)}/${latency(99)}`,
    `${fixed(nodeCpuPct)}/${fixed(serverCpuPct)}/${fixed(otherCpuPct)}`,
    `${fixed(perTurnUs(nodeCpuPct))}/${row.latencies ? fixed(perTurnUs(serverCpuPct)) : '—'}`,
  ];
}

type Measured = {
  bare: [Row, Row];
  survey: Row;
  compute: Row;
  preparer: Row;
  pure: { executorSurvey: Row; executorCompute: Row; turnSurvey: Row; turnCompute: Row };
  counts: Map<string, Counted>;
};

async function report(
  admin: pg.Client,
  options: Options,
  seeded: Seeded,
  measured: Measured,
  problems: string[],
): Promise<string> {
  const cpus = os.cpus();
  const pgInfo = await postgresSettings(admin);
  const { bare, survey, compute, preparer, pure } = measured;
  const bareRate = (perSecond(bare[0].turns, bare[0]) + perSecond(bare[1].turns, bare[1])) / 2;
  const ratio = (a: number, b: number) => fixed(a / b, 2);
  const rows = [
    bare[0],
    survey,
    compute,
    preparer,
    bare[1],
    pure.executorSurvey,
    pure.executorCompute,
    pure.turnSurvey,
    pure.turnCompute,
  ];
  const noisy = rows.filter((row) => (row.usage.otherCpuPct ?? 0) > 20 || (row.otherTx ?? 0) > 500);
  const messages = (text: (m: number) => string) =>
    Array.from({ length: Math.min(options.messages, 7) }, (_, m) => JSON.stringify(text(m))).join(', ') +
    (options.messages > 7 ? ', …' : '');
  const countLines = [...measured.counts].map(
    ([label, counted]) =>
      `  ${label}: ${[...counted.byType]
        .map(([type, { events, bytes }]) => `${type} ${fixed(events)} (${fixed(bytes)} B)`)
        .join(', ')}` +
      (counted.ended.size > 0
        ? `; FlowEnded reasons: ${[...counted.ended].map(([reason, n]) => `${reason} ${fixed(n)}`).join(', ')}`
        : ''),
  );
  return [
    `Flow-engine benchmark — ${new Date().toISOString()}`,
    `Command:  npm run bench:flow${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    `Machine:  ${cpus[0]?.model.trim()}, ${cpus.length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, ` +
      `${os.type()} ${os.release()}, Node ${process.version}`,
    `Postgres: ${pgInfo.version}; ${pgInfo.settings}`,
    `Load:     per scenario ${fixed(options.conversations)} conversations × ${options.messages} messages ` +
      `(one ReceiveWebhook with one new text message each, awaited before the conversation's next), ` +
      `${fixed(Math.min(options.inFlight, options.conversations))} turns in flight; pool ${options.pool}; ` +
      `group commit 500 × 2; FLOW_MAX_STEPS ${flowMaxSteps}. Each scenario has its own number and fresh ` +
      `conversations (their first turn reads an empty stream). Before each: ANALYZE, CHECKPOINT; ` +
      `autovacuum off on es.*; untimed warm-up of ${options.warmup} conversations × 5 messages per scenario.`,
    `Projections: caught up on the flow and chatbot events in ${fixed(seeded.catchUpSeconds, 1)} s, then ` +
      'STOPPED before measuring: no projection work competes, and rm.contacts has no row for these ' +
      "customers (each bot turn's contact query finds none, at the same cost).",
    '',
    `Flow A "survey" (chatbot on its own number; triggers: keyword "survey" exact, default):`,
    ...describeFlow(surveyFlow).map((line) => `  ${line}`),
    `  customers send: ${messages(surveyMessage)}`,
    `Flow B "compute" (chatbot on its own number; trigger: default):`,
    ...describeFlow(computeFlow).map((line) => `  ${line}`),
    `  customers send: ${messages(computeMessage)}`,
    'Bare: the same survey messages to an actor built with conversationBehaviour() (no bot preparer).',
    '',
    formatTable(
      [
        'scenario',
        'turns',
        's',
        'turns/s',
        'steps',
        'steps/s',
        'events/s',
        'turn p50/p99 ms',
        'CPU node/pg/other %',
        'µs/turn node/pg',
      ],
      rows.map(rowCells),
    ),
    `CPU: % of one core (${cpus.length * 100}% in all). Pure rows: one thread, no I/O, no actor. ` +
      'Preparer row: botPreparer called alone (no actor, no append) as often and as concurrently as the ' +
      'turns, for a new conversation: its "turns" are calls.',
    '',
    formatTable(
      ['ratio', 'value'],
      [
        [
          'A survey turns/s ÷ bare turns/s (mean of both bare runs)',
          ratio(perSecond(survey.turns, survey), bareRate),
        ],
        ['B compute turns/s ÷ bare turns/s', ratio(perSecond(compute.turns, compute), bareRate)],
        [
          'A survey steps/s ÷ pure executor steps/s',
          ratio(perSecond(survey.steps, survey), perSecond(pure.executorSurvey.steps, pure.executorSurvey)),
        ],
        [
          'B compute steps/s ÷ pure executor steps/s',
          ratio(
            perSecond(compute.steps, compute),
            perSecond(pure.executorCompute.steps, pure.executorCompute),
          ),
        ],
        [
          'A survey turns/s ÷ pure turn turns/s',
          ratio(perSecond(survey.turns, survey), perSecond(pure.turnSurvey.turns, pure.turnSurvey)),
        ],
        [
          'B compute turns/s ÷ pure turn turns/s',
          ratio(perSecond(compute.turns, compute), perSecond(pure.turnCompute.turns, pure.turnCompute)),
        ],
      ],
    ),
    '',
    'Appended per scenario (average data size):',
    ...countLines,
    ...(problems.length > 0 ? ['', 'PROBLEMS:', ...problems.map((problem) => `  ${problem}`)] : []),
    ...(noisy.length > 0
      ? [
          `WARNING: something else was busy during: ${noisy.map((row) => row.label).join('; ')}. Do not quote.`,
        ]
      : []),
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Main

function pureRow(label: string, run: PureRun): Row {
  return { label, turns: run.turns, steps: run.steps, events: run.events, usage: run.usage };
}

async function main(): Promise<boolean> {
  const options = parseOptions();
  const db = await createScratchDatabase('flow', logger, log);
  let pool: DatabasePool | undefined;
  let store: PostgresEventStore | undefined;
  const interrupted = () => void db.drop().finally(() => process.exit(130));
  for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, interrupted);
  try {
    for (const table of ['es.events', 'es.streams'])
      await db.admin.query(`ALTER TABLE ${table} SET (autovacuum_enabled = false)`);
    pool = await createDatabasePool(db.url, options.pool);
    const registry = new SchemaRegistry();
    store = await PostgresEventStore.open({ pool, databaseUrl: db.url, registry, logger });

    // 1. The organization's flows and chatbots, and the read models the catalog reads.
    log('seeding flows and chatbots, projections catching up…');
    const seeded = await seedFlows(
      { store, pool, admin: db.admin, registry, logger },
      { survey: surveyFlow, compute: computeFlow },
    );
    const { organizationId } = seeded;
    // As src/app.ts builds them.
    const catalog = new FlowCatalog(pool);
    const prepareBot = botPreparer({ catalog, maxSteps: flowMaxSteps });
    const bareActors = new ActorSystem(store, conversationBehaviour(), actorOptions);
    const botActors = new ActorSystem(store, conversationBehaviour(prepareBot), actorOptions);

    // 2. CPU ceilings.
    const script = (text: (m: number) => string) => ({
      messages: options.messages,
      text,
      seconds: options.pureSeconds,
    });
    const preparedFor = async (channelId: string, text: string): Promise<BotPrepared> => {
      const [customer] = customersOf(organizationId, channelId, 99, 1);
      if (!customer) throw new Error('no customer');
      const command = receiveText(customer, 0, text, new Date().toISOString());
      const prepared = await prepareBot(command, initialConversationState(), organizationId);
      if (!prepared) throw new Error(`the bot preparer loaded nothing for channel ${channelId}`);
      return prepared;
    };
    log('pure executor and pure turn loops…');
    const pure = {
      executorSurvey: pureRow(
        'pure executor: A survey',
        executorCeiling(seeded.survey.flowId, surveyFlow, script(surveyMessage)),
      ),
      executorCompute: pureRow(
        'pure executor: B compute',
        executorCeiling(seeded.compute.flowId, computeFlow, script(computeMessage)),
      ),
      turnSurvey: pureRow(
        'pure turn (decide+validate+evolve): A',
        turnCeiling(
          organizationId,
          seeded.survey.channelId,
          await preparedFor(seeded.survey.channelId, surveyMessage(0)),
          registry,
          script(surveyMessage),
        ),
      ),
      turnCompute: pureRow(
        'pure turn (decide+validate+evolve): B',
        turnCeiling(
          organizationId,
          seeded.compute.channelId,
          await preparedFor(seeded.compute.channelId, computeMessage(0)),
          registry,
          script(computeMessage),
        ),
      ),
    };

    // 3. The actor scenarios.
    const scenarios = {
      bare: { actors: bareActors, channelId: seeded.bareChannelId, text: bareMessage },
      survey: { actors: botActors, channelId: seeded.survey.channelId, text: surveyMessage },
      compute: { actors: botActors, channelId: seeded.compute.channelId, text: computeMessage },
    };
    if (options.warmup > 0) {
      log('warm-up…');
      for (const [name, scenario] of Object.entries(scenarios)) {
        const customers = customersOf(organizationId, scenario.channelId, 90, options.warmup);
        const run = await driveConversations(scenario.actors, organizationId, customers, {
          messages: 5,
          inFlight: options.inFlight,
          text: scenario.text,
        });
        if (run.failures > 0)
          throw new Error(`warm-up ${name}: ${run.failures} turns failed: ${run.firstFailure}`);
      }
    }
    const problems: string[] = [];
    const counts = new Map<string, Counted>();
    let tag = 0;
    const timed = async (
      label: string,
      scenario: (typeof scenarios)[keyof typeof scenarios],
    ): Promise<Row> => {
      await db.admin.query('ANALYZE es.events, es.streams');
      await db.admin.query('CHECKPOINT').catch(() => undefined);
      tag += 1;
      const customers = customersOf(organizationId, scenario.channelId, tag, options.conversations);
      log(`${label}: ${fixed(customers.length)} conversations × ${options.messages} messages…`);
      const from = await lastPosition(db.admin);
      const others = await otherDatabaseTransactions(db.admin);
      const run = await driveConversations(scenario.actors, organizationId, customers, {
        messages: options.messages,
        inFlight: options.inFlight,
        text: scenario.text,
      });
      const otherTx = await otherTransactionsSince(db.admin, others);
      const counted = await countAppended(db.admin, from, await lastPosition(db.admin));
      counts.set(label, counted);
      const events = [...counted.byType.values()].reduce((sum, { events: n }) => sum + n, 0);
      const row: Row = {
        label,
        turns: run.turns,
        steps: counted.steps,
        events,
        usage: run.usage,
        latencies: run.latencies,
        otherTx,
      };
      if (run.failures > 0)
        problems.push(`${label}: ${run.failures} turns failed; first: ${run.firstFailure}`);
      const received = counted.byType.get('MessageReceived')?.events ?? 0;
      if (received !== run.turns)
        problems.push(`${label}: ${received} MessageReceived for ${run.turns} turns`);
      const stopped = [...counted.ended].filter(([reason]) => reason !== 'completed');
      if (stopped.length > 0) problems.push(`${label}: runs stopped: ${JSON.stringify(stopped)}`);
      log(
        `  ${fixed(run.turns)} turns in ${fixed(seconds(row), 1)} s: ${fixed(perSecond(run.turns, row))} turns/s, ` +
          `${fixed(perSecond(counted.steps, row))} steps/s`,
      );
      return row;
    };
    const bareFirst = await timed('bare actor (no bot), 1st', scenarios.bare);
    const survey = await timed('A survey through the actor', scenarios.survey);
    const compute = await timed('B compute through the actor', scenarios.compute);
    // What a bot turn adds in I/O, alone: the preparer's catalog look-ups (cached) and contact read.
    log('bot preparer alone…');
    const callers = customersOf(organizationId, seeded.survey.channelId, 98, options.conversations);
    const others = await otherDatabaseTransactions(db.admin);
    const state = initialConversationState();
    let calls = 0;
    const alone = await runLoops(
      callers.slice(0, options.inFlight),
      options.conversations * options.messages,
      600,
      (customer) =>
        prepareBot(receiveText(customer, calls++, 'hi', new Date().toISOString()), state, organizationId),
    );
    const preparer: Row = {
      label: "bot preparer alone (A's I/O per turn)",
      turns: alone.events,
      steps: 0,
      events: 0,
      usage: alone.usage,
      latencies: alone.latencies,
      otherTx: await otherTransactionsSince(db.admin, others),
    };
    const bareSecond = await timed('bare actor (no bot), 2nd', scenarios.bare);
    const botTurns = (row: Row) => counts.get(row.label)?.byType.get('FlowAdvanced')?.events ?? 0;
    for (const row of [survey, compute]) {
      if (botTurns(row) !== row.turns)
        problems.push(`${row.label}: ${botTurns(row)} bot turns of ${row.turns}`);
    }

    const measured: Measured = { bare: [bareFirst, bareSecond], survey, compute, preparer, pure, counts };
    process.stdout.write(`\n${await report(db.admin, options, seeded, measured, problems)}\n`);
    return problems.length === 0;
  } finally {
    await store?.close().catch(() => undefined);
    await pool?.end().catch(() => undefined);
    await db.drop();
  }
}

try {
  if (!(await main())) process.exitCode = 1;
} catch (error) {
  log(`bench:flow failed: ${error instanceof Error ? (error.stack ?? error.message) : error}`);
  process.exitCode = 1;
}
