/**
 * What scripts/bench/ingest.ts prints: the machine and the load, the steady rows against their
 * ceilings, then the burst and cold rows with the drain of the read side after them.
 */
import os from 'node:os';
import type pg from 'pg';
import { fixed, formatTable } from '../measure.ts';
import { postgresSettings } from '../scratchDatabase.ts';
import { type Batches, formatBatches } from './batches.ts';
import type { CpuSplit } from './cpuSplit.ts';
import type { Drain } from './drain.ts';
import type { StoreCeiling } from './storeCeiling.ts';
import type { WrkLoad, WrkResult } from './wrk.ts';

export type IngestRun = WrkResult & { eventsPerSecond: number; batches: Batches; problems: string[] };

/** The server at one connection count after the warm-up, and ceilings A and B at the same count. */
export type SteadyRow = { load: WrkLoad; ingest: IngestRun; bare: WrkResult; store: StoreCeiling };

/** A load, then the time until every projection had caught up with it. */
export type DrainedRow = {
  kind: 'burst' | 'cold';
  wrk: WrkResult;
  /** Events appended by the run, the requests in flight when it ended included. */
  events: number;
  drain: Drain;
  /** The run's messages in rm.messages once drained, against its MessageReceived events. */
  stored: { messages: number; received: number };
  problems: string[];
};

export type ReportSettings = {
  organizations: number;
  customers: number;
  threads: number;
  seconds: number;
  warmup: number;
  storeSeconds: number;
  burstSeconds: number;
  coldCustomers: number;
  loadConnections: number;
  pool: number;
};

export const acknowledged = (wrk: WrkResult) => wrk.requests - wrk.non2xx;

/** Acknowledged webhooks ÷ (load + drain): what an agent watching the inbox saw arrive per second. */
export const endToEnd = (row: Pick<DrainedRow, 'wrk' | 'drain'>) =>
  acknowledged(row.wrk) / (row.wrk.seconds + row.drain.seconds);

/** The targets for the read side. */
const targets = { drainSeconds: 2, endToEndRatio: 0.9 };

const split = (cpu: CpuSplit | null, keys: (keyof CpuSplit)[]) =>
  cpu ? keys.map((key) => fixed(cpu[key])).join('/') : '—';
const cpuNote = () =>
  `CPU: % of one core (${os.cpus().length * 100}% in all); events/tx: events per transaction.`;

function steadySection(settings: ReportSettings, rows: SteadyRow[]): string[] {
  const ratioOf = (row: SteadyRow) =>
    row.ingest.perSecond / Math.min(row.bare.perSecond, row.store.appendsPerSecond);
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
    `Steady:   ${settings.seconds} s per run after a ${settings.warmup} s warm-up, each run once the read ` +
      `side has caught up with the ones before; ceiling B ${settings.storeSeconds} s per run`,
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
    `${cpuNote()} A, B: the ceilings.`,
    '',
    `Best: -c${best.load.connections}, ${fixed(best.ingest.perSecond)} webhooks/s. ` +
      'ratio = webhooks/s ÷ min(A, B), same connections; target ≥ 0.50.',
    ...rows.flatMap((row) =>
      row.ingest.problems.map((problem) => `FAILED (-c${row.load.connections}): ${problem}`),
    ),
  ];
}

function drainedSection(settings: ReportSettings, rows: DrainedRow[]): string[] {
  const load = `-t${settings.threads} -c${settings.loadConnections}`;
  const descriptions = {
    burst: `Burst:    ${load} for ${settings.burstSeconds} s on the conversations of the warm-up, after it`,
    cold:
      `Cold:     ${load}, ${fixed(settings.coldCustomers)} customers never seen, one first message each, ` +
      'each sent once, as the first webhooks the server gets: no warm-up',
  };
  const ratio = (row: DrainedRow) => endToEnd(row) / (acknowledged(row.wrk) / row.wrk.seconds);
  const figures = rows.map((row) => [
    row.kind,
    fixed(acknowledged(row.wrk)),
    fixed(row.wrk.seconds, 1),
    fixed(acknowledged(row.wrk) / row.wrk.seconds),
    fixed(row.wrk.p50Ms, 1),
    fixed(row.wrk.p99Ms, 1),
    fixed(row.events),
    fixed(row.drain.seconds, 2),
    fixed(endToEnd(row)),
    fixed(ratio(row), 3), // three digits: 0.896 would read 0.90 and fail
    `${fixed(row.stored.messages)} of ${fixed(row.stored.received)}`,
  ]);
  const details = rows.map((row) => {
    const behind = row.drain.backlog.filter(({ events }) => events > 0);
    return [
      row.kind,
      split(row.wrk.cpu, ['client', 'server', 'postgres', 'other']),
      split(row.drain.cpu, ['server', 'postgres', 'other']),
      behind.map(({ projection, events }) => `${projection} ${fixed(events)}`).join(', ') || 'none',
    ];
  });
  const verdicts = rows.map((row) => {
    const met = row.drain.seconds <= targets.drainSeconds && ratio(row) >= targets.endToEndRatio;
    return `${row.kind} ${met ? 'met' : 'not met'}`;
  });
  return [
    ...rows.map((row) => descriptions[row.kind]),
    '',
    formatTable(
      [
        'row',
        'acknowledged',
        'load s',
        'acknowledged/s',
        'p50 ms',
        'p99 ms',
        'events appended',
        'drain s',
        'end-to-end/s',
        'end-to-end ÷ acknowledged',
        'in rm.messages',
      ],
      figures,
    ),
    '',
    formatTable(
      ['row', 'load CPU wrk/node/pg/other', 'drain CPU node/pg/other', 'backlog at the end'],
      details,
    ),
    `${cpuNote()} backlog: events each projection had still to apply when the load ended.`,
    '',
    'drain: from the end of the load until every checkpoint in projection.checkpoints has passed the last ' +
      'event of its types (polled every 50 ms); end-to-end = acknowledged ÷ (load s + drain s); in rm.messages: ' +
      "rows for the run's wamids, of its MessageReceived events.",
    `Targets: drain ≤ ${targets.drainSeconds} s and end-to-end ≥ ${targets.endToEndRatio.toFixed(2)} × ` +
      `acknowledged/s: ${verdicts.join(', ')}.`,
    ...rows.flatMap((row) => row.problems.map((problem) => `FAILED (${row.kind}): ${problem}`)),
  ];
}

export async function report(
  admin: pg.Client,
  settings: ReportSettings,
  wrk: string,
  steady: SteadyRow[],
  drained: DrainedRow[],
): Promise<string> {
  const pgInfo = await postgresSettings(admin, 'synchronous_commit fsync wal_sync_method shared_buffers');
  const cpus = os.cpus();
  return [
    `Webhook ingest benchmark — ${new Date().toISOString()}`,
    `Machine:  ${cpus[0]?.model.trim()}, ${cpus.length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, ` +
      `${os.type()} ${os.release()}, Node ${process.version}, ${wrk}`,
    `Postgres: ${pgInfo.version}`,
    `          ${pgInfo.settings}`,
    `Load:     ${settings.organizations} organizations × ${settings.customers} customers, one text message per ` +
      `signed webhook, round-robin, none sent twice; server pool ${settings.pool}, every projection running`,
    ...(steady.length > 0 ? ['', ...steadySection(settings, steady)] : []),
    ...(drained.length > 0 ? ['', ...drainedSection(settings, drained)] : []),
  ].join('\n');
}
