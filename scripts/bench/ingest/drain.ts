/**
 * The read side after a load: how far behind each projection was when the load ended, and how long it
 * took until every projection had caught up. Read from the database every 50 ms, not from the
 * server's lag gauges (measured every 5 s). A projection has caught up when its checkpoint in
 * projection.checkpoints is the last event of its types in `$all` order, which is
 * (transaction_id, position) and not position alone (see es.events).
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { allProjections } from '../../../projections/index.ts';
import { lastPosition } from './batches.ts';
import { type CpuSplit, startCpuMeter } from './cpuSplit.ts';
import { waitUntilIdle } from './serverMetrics.ts';

export type Drain = {
  /** From the end of the load until every projection had caught up. */
  seconds: number;
  /** Per projection, in start order: the events it still had to apply when the load ended. */
  backlog: { projection: string; events: number }[];
  /** The server and Postgres while they drained; `client` is this process's children (none). */
  cpu: CpuSplit | null;
};

const pollMs = 50;
const projections = allProjections.map(({ name, eventTypes }) => ({ name, types: eventTypes }));

async function checkpoints(admin: pg.Client): Promise<Map<string, string>> {
  const { rows } = await admin.query('SELECT name, position::text FROM projection.checkpoints');
  return new Map(rows.map((row) => [row.name as string, row.position as string]));
}

/** Each projection's last event after `from`, in `$all` order; a projection with none is absent. */
async function lastEvents(admin: pg.Client, from: string): Promise<Map<string, string>> {
  const { rows } = await admin.query(
    `WITH last AS (
       SELECT DISTINCT ON (type) type, transaction_id, position FROM es.events WHERE position > $1
        ORDER BY type, transaction_id DESC, position DESC)
     SELECT DISTINCT ON (p.name) p.name, last.position::text
       FROM jsonb_to_recordset($2::jsonb) AS p(name text, types text[]) JOIN last ON last.type = ANY (p.types)
      ORDER BY p.name, last.transaction_id DESC, last.position DESC`,
    [from, JSON.stringify(projections)],
  );
  return new Map(rows.map((row) => [row.name as string, row.position as string]));
}

/**
 * Resolves once every projection has applied every event of its types appended after `from` (the
 * position of an event every projection had passed, or '0'); throws after `timeoutMs`.
 */
export async function untilCaughtUp(admin: pg.Client, from: string, timeoutMs = 600_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let horizon = await lastPosition(admin);
  let targets = await lastEvents(admin, from);
  for (;;) {
    const applied = await checkpoints(admin);
    const behind = [...targets].filter(([name, position]) => applied.get(name) !== position);
    if (behind.length === 0) {
      // Events appended since the targets were read would be missed: read them again.
      const now = await lastPosition(admin);
      if (now === horizon) return;
      horizon = now;
      targets = await lastEvents(admin, from);
      continue;
    }
    if (performance.now() > deadline)
      throw new Error(
        `after ${timeoutMs / 1000} s, still behind: ${behind.map(([name]) => name).join(', ')}`,
      );
    await sleep(pollMs);
  }
}

/** Per projection, the events of its types in (from, last] after its checkpoint in `$all` order. */
async function backlog(
  admin: pg.Client,
  from: string,
  end: { last: string; checkpoints: Map<string, string> },
): Promise<Drain['backlog']> {
  const { rows } = await admin.query(
    `SELECT p.name, count(e.position)::int AS events
       FROM jsonb_to_recordset($3::jsonb) AS p(name text, types text[], checkpoint bigint)
       LEFT JOIN es.events c ON c.position = p.checkpoint
       LEFT JOIN es.events e ON e.position > $1 AND e.position <= $2 AND e.type = ANY (p.types)
        AND (c.position IS NULL OR (e.transaction_id, e.position) > (c.transaction_id, c.position))
      GROUP BY p.name`,
    [
      from,
      end.last,
      JSON.stringify(projections.map((p) => ({ ...p, checkpoint: end.checkpoints.get(p.name) ?? null }))),
    ],
  );
  const events = new Map(rows.map((row) => [row.name as string, row.events as number]));
  return projections.map(({ name }) => ({ projection: name, events: events.get(name) ?? 0 }));
}

/**
 * Call as soon as the load has ended. `from`: the last position before the load, every projection
 * caught up. 1. Where each projection is now. 2. The requests still in flight, answered. 3. The
 * projections, caught up: the drain. 4. The backlog at 1, counted once nothing is timed any more.
 */
export async function measureDrain(
  admin: pg.Client,
  server: { base: string; pid: number },
  from: string,
): Promise<Drain> {
  const started = performance.now();
  const meter = startCpuMeter(server.pid);
  const end = { checkpoints: await checkpoints(admin), last: await lastPosition(admin) };
  await waitUntilIdle(server.base);
  await untilCaughtUp(admin, from);
  const seconds = (performance.now() - started) / 1000;
  const cpu = meter();
  return { seconds, cpu, backlog: await backlog(admin, from, end) };
}
