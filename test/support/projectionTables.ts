import assert from 'node:assert/strict';
import { type DatabasePool, sql } from 'slonik';
import type { RecordedEvent } from '../../src/eventstore/eventStore.ts';
import {
  createProjectionTables,
  type Projection,
  type ProjectionTables,
} from '../../src/projection/projection.ts';
import { tableIdentifiers } from '../../src/projection/projectionRunner.ts';
import type { ConversationDelta } from '../../src/realtime/delta.ts';

/**
 * A projection's tables side by side, for tests that apply one history several ways and compare what
 * each left: the tables under other names, a history applied in batches, the rows compared.
 */

/** The projection's tables under `<table>__<suffix>`, created empty. */
export async function tablesFor(
  pool: DatabasePool,
  projection: Projection,
  suffix: string,
): Promise<{ names: Record<string, string>; ids: ProjectionTables }> {
  const names = Object.fromEntries(
    Object.entries(projection.tables).map(([logical, table]) => [logical, `${table}__${suffix}`]),
  );
  const ids = tableIdentifiers(names);
  await pool.transaction((tx) => createProjectionTables(tx, projection, ids));
  return { names, ids };
}

/** Applies `history` in transactions of `sizes()` events each; the deltas published, in order. */
export async function applyInBatches(
  pool: DatabasePool,
  projection: Projection,
  tables: ProjectionTables,
  history: readonly RecordedEvent[],
  sizes: () => number,
): Promise<ConversationDelta[]> {
  const deltas: ConversationDelta[] = [];
  const context = { tables, publish: (delta: ConversationDelta) => deltas.push(delta) };
  for (let start = 0; start < history.length; ) {
    const batch = history.slice(start, start + sizes());
    await pool.transaction((tx) => projection.applyBatch(tx, batch, context));
    start += batch.length;
  }
  return deltas;
}

export const countRows = async (pool: DatabasePool, table: string): Promise<number> =>
  Number(await pool.oneFirst(sql.unsafe`SELECT count(*) FROM ${sql.identifier(table.split('.'))}`));

/** Each table of `expected` (logical name → table) holds the same rows as its namesake in `actual`. */
export async function assertSameRows(
  pool: DatabasePool,
  expected: Record<string, string>,
  actual: Record<string, string>,
): Promise<void> {
  for (const [logical, table] of Object.entries(expected)) {
    const other = actual[logical] as string;
    assert.equal(await countRows(pool, other), await countRows(pool, table), `${logical}: as many rows`);
    for (const [a, b] of [
      [table, other],
      [other, table],
    ] as const) {
      const extra = await pool.any(sql.unsafe`
        SELECT * FROM ${sql.identifier(a.split('.'))} EXCEPT ALL SELECT * FROM ${sql.identifier(b.split('.'))}
        LIMIT 3`);
      assert.deepEqual(extra, [], `${logical}: rows of ${a} missing from ${b}`);
    }
  }
}
