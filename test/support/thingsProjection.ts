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
  async apply(tx, event, { tables, publish }) {
    const { n } = event.data as { n: number };
    if (await tx.exists(sql.unsafe`SELECT 1 FROM refused WHERE n = ${n}`)) throw new Error(`${n} refused`);
    await tx.query(
      sql.unsafe`INSERT INTO ${tables.seen} (position, n) VALUES (${String(event.position)}, ${n})`,
    );
    await tx.query(sql.unsafe`UPDATE totals SET sum = sum + ${n}`);
    publish(conversationDelta(event, null));
  },
});
