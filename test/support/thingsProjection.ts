import { sql } from 'slonik';
import type { Projection } from '../../src/projection/projection.ts';
import { conversationDelta } from '../../src/realtime/delta.ts';

/**
 * Adds every ThingHappened's n to a running total (not idempotent: an event applied twice shows) and
 * records it; refuses an n listed in `refused` (a projection bug or a missing row, fixed later).
 * Its database needs `refused (n int)` and `totals (sum bigint)` with one row.
 */
export const things = (name = 'things', version = 1): Projection<'seen'> => ({
  name,
  version,
  eventTypes: ['ThingHappened'],
  tables: { seen: `public.${name}_seen` },
  async createTables(tx, t) {
    await tx.query(sql.unsafe`CREATE TABLE ${t.seen} (position bigint PRIMARY KEY, n int NOT NULL)`);
  },
  async createIndexes(tx, t) {
    await tx.query(sql.unsafe`CREATE INDEX ON ${t.seen} (n)`);
  },
  async applyBatch(tx, events, { tables, publish }) {
    const ns = events.map((event) => (event.data as { n: number }).n);
    const refused = await tx.anyFirst(
      sql.unsafe`SELECT n FROM refused WHERE n = ANY(${sql.array(ns, 'int4')}) LIMIT 1`,
    );
    if (refused.length > 0) throw new Error(`${refused[0]} refused`);
    await tx.query(sql.unsafe`
      INSERT INTO ${tables.seen} (position, n)
      SELECT * FROM unnest(${sql.array(
        events.map((event) => String(event.position)),
        'int8',
      )}::bigint[], ${sql.array(ns, 'int4')}::int[])`);
    await tx.query(sql.unsafe`UPDATE totals SET sum = sum + ${ns.reduce((sum, n) => sum + n, 0)}`);
    for (const event of events) publish?.(conversationDelta(event, null));
  },
});
