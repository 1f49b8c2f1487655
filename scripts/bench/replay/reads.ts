/**
 * The read ceilings of bench:replay: `$all` read without applying anything, through the store's
 * readAll pages (as rebuildProjection reads), through subscribeToAll (as the runner reads), and
 * with the bare pg driver.
 */
import type pg from 'pg';
import type { AllFilter, EventStore } from '../../../src/eventstore/eventStore.ts';

/** readAll pages of `batch` after one another until a short page, as rebuildProjection does. */
export async function readAllPages(store: EventStore, batch: number, filter?: AllFilter): Promise<number> {
  let after: bigint | undefined;
  let events = 0;
  for (;;) {
    const page = await store.readAll({
      ...(after === undefined ? {} : { after }),
      ...(filter ? { filter } : {}),
      maxCount: batch,
    });
    events += page.length;
    const last = page.at(-1);
    if (!last || page.length < batch) return events;
    after = last.position;
  }
}

/**
 * subscribeToAll from the start until `total` events have arrived. A subscription quiet for 15 s
 * before the end is stuck (held back by a transaction left open): it is ended and reported.
 */
export async function catchUp(store: EventStore, total: number, batch: number): Promise<number> {
  const subscription = store.subscribeToAll({ batchSize: batch });
  let events = 0;
  let eventsAtLastCheck = -1;
  const watchdog = setInterval(() => {
    if (events === eventsAtLastCheck) void subscription.close();
    eventsAtLastCheck = events;
  }, 15_000);
  try {
    for await (const _event of subscription) if (++events >= total) break;
    if (events < total) throw new Error(`catch-up stalled at ${events} of ${total} events`);
    return events;
  } finally {
    clearInterval(watchdog);
    await subscription.close();
  }
}

/**
 * The store's columns in `$all` order, in (transaction_id, position) keyset pages, on one bare pg
 * connection (which parses jsonb and timestamptz and leaves int8 as strings): Postgres's own floor.
 */
export async function rawKeysetRead(client: pg.Client, batch: number): Promise<number> {
  let cursor = ['0', '0'];
  let events = 0;
  for (;;) {
    const { rows } = await client.query(
      `SELECT position, transaction_id::text AS transaction_id, event_id, stream_name, revision, type, data,
              metadata, recorded_at
         FROM es.events e WHERE (e.transaction_id, e.position) > ($1::xid8, $2::bigint)
        ORDER BY e.transaction_id, e.position LIMIT $3`,
      [...cursor, batch],
    );
    events += rows.length;
    const last = rows.at(-1);
    if (!last || rows.length < batch) return events;
    cursor = [last.transaction_id, last.position];
  }
}
