/** How full group commit's batches were: events per transaction in es.events. */
import type pg from 'pg';

export type Batches = { avg: number; p50: number; max: number };

/** The position of the last event appended so far (0: none), as text. */
export async function lastPosition(admin: pg.Client): Promise<string> {
  const { rows } = await admin.query('SELECT coalesce(max(position), 0)::text AS p FROM es.events');
  return rows[0].p;
}

/** Events per transaction among the events appended after position `from`. */
export async function batchesAfter(admin: pg.Client, from: string): Promise<Batches> {
  const { rows } = await admin.query<Batches>(
    `SELECT avg(n)::float8 AS avg, percentile_disc(0.5) WITHIN GROUP (ORDER BY n)::int AS p50, max(n)::int AS max
       FROM (SELECT count(*) AS n FROM es.events WHERE position > $1 GROUP BY transaction_id) batches`,
    [from],
  );
  return rows[0] as Batches;
}

export const formatBatches = (b: Batches) => `${b.avg.toFixed(0)}/${b.p50}/${b.max}`;
