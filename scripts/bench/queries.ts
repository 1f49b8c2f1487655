/**
 * Read-model query benchmark: `npm run bench:queries [-- --orgs 10 --conversations 1000 --messages 100]`.
 *
 * On a throwaway database pytake_bench_queries_<random> (on BENCH_DATABASE_URL, else
 * PYTAKE_TEST_ADMIN_URL, else postgres://postgres@127.0.0.1:5432/postgres), dropped at the end and
 * no other touched:
 *   1. migrate, create the conversation read models with the projection's own createTables;
 *   2. fill them set-based (orgs × conversations × messages; 10 × 1,000 × 100 = 1,000,000 messages);
 *   3. ANALYZE;
 *   4. for each console read (inbox pages with and without filters, a restricted agent's inbox,
 *      message history pages): print EXPLAIN (ANALYZE, BUFFERS) of the exact SQL the API runs, as
 *      the API runs it (role pytake_app, tenant set), then time the query function itself.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { sql } from 'slonik';
import { migrate } from '../../src/db/migrate.ts';
import { createDatabasePool, type DatabasePool } from '../../src/db/pool.ts';
import { createLogger } from '../../src/log/logger.ts';
import { fixed, formatTable, percentile, startMeter } from './measure.ts';
import {
  createReadModelTables,
  explain,
  fillReadModels,
  planNodes,
  scenarios,
} from './queries/readModelData.ts';

const { values } = parseArgs({
  options: {
    orgs: { type: 'string', default: '10' },
    conversations: { type: 'string', default: '1000' },
    messages: { type: 'string', default: '100' },
    runs: { type: 'string', default: '300' },
    help: { type: 'boolean' },
  },
});
if (values.help) {
  console.log(
    'npm run bench:queries -- [--orgs 10] [--conversations 1000 (per org)] [--messages 100 (per conversation)] [--runs 300]',
  );
  process.exit(0);
}
const number = (name: 'orgs' | 'conversations' | 'messages' | 'runs') => {
  const value = Number(values[name]);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer`);
  return value;
};
const shape = { orgs: number('orgs'), conversations: number('conversations'), messages: number('messages') };
const runs = number('runs');

const log = (message: string) => process.stderr.write(`${message}\n`);
const logger = createLogger(process.env.BENCH_LOG_LEVEL ?? 'warn', process.stderr);
const { BENCH_DATABASE_URL, PYTAKE_TEST_ADMIN_URL } = process.env;
const adminUrl = BENCH_DATABASE_URL ?? PYTAKE_TEST_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

type Summary = {
  name: string;
  scans: string;
  rows: number;
  buffers: number;
  planningMs: number;
  executionMs: number;
  p50: number;
  p95: number;
  rawP50: number;
  rawP95: number;
  otherCpuPct: number | null;
};

/** The scan nodes of a JSON plan, e.g. `Index Scan messages_p3 (…position_idx)`, deduplicated. */
function scansOf(plan: Record<string, unknown>): string {
  const scans = new Set<string>();
  for (const node of planNodes(plan)) {
    const type = String(node['Node Type']);
    if (!type.includes('Scan')) continue;
    const relation = node['Relation Name']
      ? ` ${String(node['Relation Name']).replace(/_p\d+$/, '_p*')}`
      : '';
    // Auto-named indexes: `conversations_p3_organization_id_status_last_activity_at_co_idx` → `status_last_activity_at_co`.
    const index = node['Index Name']
      ? ` (${String(node['Index Name'])
          .replace(/^.*?_p\d+_organization_id_/, '')
          .replace(/_idx$/, '')})`
      : '';
    scans.add(`${type}${relation}${index}`);
  }
  return [...scans].join('; ');
}

/** Latencies of `runs` sequential calls after 20 untimed ones, and the CPU others took meanwhile. */
async function time(
  run: () => Promise<unknown>,
): Promise<{ p50: number; p95: number; otherCpuPct: number | null }> {
  for (let i = 0; i < 20; i += 1) await run();
  const samples: number[] = [];
  const meter = startMeter();
  for (let i = 0; i < runs; i += 1) {
    const started = performance.now();
    await run();
    samples.push(performance.now() - started);
  }
  const { otherCpuPct } = meter();
  samples.sort((a, b) => a - b);
  return { p50: percentile(samples, 50), p95: percentile(samples, 95), otherCpuPct };
}

async function main(): Promise<void> {
  const name = `pytake_bench_queries_${randomBytes(4).toString('hex')}`;
  const url = Object.assign(new URL(adminUrl), { pathname: `/${name}` }).toString();
  const server = new pg.Client({ connectionString: adminUrl, application_name: 'pytake-bench' });
  await server.connect();
  const drop = () => server.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`); // only ours
  for (const signal of ['SIGINT', 'SIGTERM'])
    process.once(signal, () => void drop().finally(() => process.exit(130)));
  await server.query(`CREATE DATABASE "${name}"`);
  log(`bench database ${name}`);
  let pool: DatabasePool | undefined;
  const ceiling = new pg.Client({ connectionString: url, application_name: 'pytake-bench' });
  try {
    await migrate(url, logger);
    pool = await createDatabasePool(url, 4);
    await createReadModelTables(pool);
    await ceiling.connect();
    const total = shape.orgs * shape.conversations * shape.messages;
    log(
      `filling ${shape.orgs} organizations × ${shape.conversations} conversations × ${shape.messages} messages`,
    );
    const filling = performance.now();
    await fillReadModels(pool, shape, (message) => log(`  ${message}`));
    log(`  filled and analyzed in ${fixed((performance.now() - filling) / 1000, 1)} s`);

    const version = String(await pool.oneFirst(sql.unsafe`SELECT split_part(version(), ' on ', 1)`));
    const summaries: Summary[] = [];
    for (const scenario of await scenarios(pool, shape)) {
      const text = (await explain(pool, scenario.query, 'text')) as string[];
      const [json] = (await explain(pool, scenario.query, 'json')) as [
        { Plan: Record<string, unknown>; 'Planning Time': number; 'Execution Time': number },
      ][];
      const plan = json?.[0];
      if (!plan) throw new Error(`no plan for ${scenario.name}`);
      process.stdout.write(`\n### ${scenario.name}\n\n${text.join('\n')}\n`);
      const timing = await time(scenario.run);
      // The raw ceiling: the same SQL and values on one bare pg connection as the owner, with no
      // transaction, no role or tenant setting, no row mapping.
      // slonik writes its placeholders as $slonik_N until it sends a query.
      const rawSql = scenario.query.sql.replace(/\$slonik_(\d+)/g, '$$$1');
      const raw = await time(() => ceiling.query(rawSql, scenario.query.values as unknown[]));
      summaries.push({
        name: scenario.name,
        scans: scansOf(plan.Plan),
        rows: Number(plan.Plan['Actual Rows']),
        buffers: Number(plan.Plan['Shared Hit Blocks'] ?? 0) + Number(plan.Plan['Shared Read Blocks'] ?? 0),
        planningMs: plan['Planning Time'],
        executionMs: plan['Execution Time'],
        p50: timing.p50,
        p95: timing.p95,
        rawP50: raw.p50,
        rawP95: raw.p95,
        otherCpuPct: Math.max(timing.otherCpuPct ?? 0, raw.otherCpuPct ?? 0),
      });
    }
    process.stdout.write(
      `\n## Summary — ${total.toLocaleString('en')} messages, ${(shape.orgs * shape.conversations).toLocaleString('en')} conversations; ` +
        `${os.cpus().length} cores, ${version}; p50/p95: ${runs} sequential calls of the query function (pool, ` +
        `transaction as pytake_app with the tenant set, row mapping); raw: the same SQL on a bare pg connection\n\n`,
    );
    process.stdout.write(
      `${formatTable(
        [
          'read',
          'rows',
          'buffers',
          'plan ms',
          'exec ms',
          'p50 ms',
          'p95 ms',
          'raw p50',
          'raw p95',
          'other CPU %',
          'scans',
        ],
        summaries.map((s) => [
          s.name,
          String(s.rows),
          String(s.buffers),
          fixed(s.planningMs, 3),
          fixed(s.executionMs, 3),
          fixed(s.p50, 2),
          fixed(s.p95, 2),
          fixed(s.rawP50, 2),
          fixed(s.rawP95, 2),
          fixed(s.otherCpuPct),
          s.scans,
        ]),
      )}\n`,
    );
  } finally {
    await pool?.end().catch(() => undefined);
    await ceiling.end().catch(() => undefined);
    await drop();
    await server.end();
    log(`dropped ${name}`);
  }
}

await main();
