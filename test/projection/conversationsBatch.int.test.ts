import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type DatabaseTransactionConnection, sql } from 'slonik';
import { conversationsProjection } from '../../projections/conversations.ts';
import type { RecordedEvent } from '../../src/eventstore/eventStore.ts';
import { validateEvents } from '../../src/eventstore/eventValidator.ts';
import {
  createProjectionTables,
  type Projection,
  type ProjectionTables,
} from '../../src/projection/projection.ts';
import { tableIdentifiers } from '../../src/projection/projectionRunner.ts';
import type { ConversationDelta } from '../../src/realtime/delta.ts';
import { openTestEventStore, testRegistry } from '../support/database.ts';
import { randomConversationHistory, seededRandom } from '../support/randomConversationHistory.ts';
import { conversationsPerEvent } from './perEventOracle/conversations.ts';

/**
 * The set-based conversations projection against the per-event one it replaced: the same randomized
 * history of 50,000 events, applied one event at a time by the old SQL and in batches of random sizes
 * (often one event, as on the live path; up to 2,000, as behind a backlog) by the new code, must leave
 * every row of every table equal and publish every delta equal, in the same order.
 */
const events = Number(process.env.CONVERSATIONS_BATCH_EVENTS ?? 50_000);

describe('conversations projection, set-based', { timeout: 600_000 }, () => {
  let env: Awaited<ReturnType<typeof openTestEventStore>>;
  before(async () => {
    env = await openTestEventStore('conversations_batch');
  });
  after(async () => {
    await env?.close();
  });

  /** The projection's tables under `<table>__<suffix>`, created empty. */
  async function tablesFor(
    suffix: string,
  ): Promise<{ names: Record<string, string>; ids: ProjectionTables }> {
    const names = Object.fromEntries(
      Object.entries(conversationsProjection.tables).map(([logical, table]) => [
        logical,
        `${table}__${suffix}`,
      ]),
    );
    const ids = tableIdentifiers(names);
    await env.pool.transaction((tx) => createProjectionTables(tx, conversationsProjection, ids));
    return { names, ids };
  }

  /** Applies `history` in transactions of the given batch sizes; the deltas published, in order. */
  async function applyInBatches(
    projection: Projection,
    tables: ProjectionTables,
    history: readonly RecordedEvent[],
    sizes: () => number,
  ): Promise<ConversationDelta[]> {
    const deltas: ConversationDelta[] = [];
    const context = { tables, publish: (delta: ConversationDelta) => deltas.push(delta) };
    for (let start = 0; start < history.length; ) {
      const batch = history.slice(start, start + sizes());
      await env.pool.transaction((tx: DatabaseTransactionConnection) =>
        projection.applyBatch(tx, batch, context),
      );
      start += batch.length;
    }
    return deltas;
  }

  it('leaves every row and publishes every delta as the per-event projection did, whatever the batch sizes', async () => {
    const history = randomConversationHistory({ events, seed: 20261208, organizations: 4, customers: 600 });
    validateEvents(testRegistry(), history);
    const types = new Set(history.map((event) => event.type));
    for (const type of conversationsProjection.eventTypes)
      assert.ok(types.has(type), `the history has ${type}`);

    // The per-event code applied one event at a time (in transactions of 500: its statements run event
    // by event whatever the transaction), then the set-based code in batches of random sizes.
    const oracle = await tablesFor('oracle');
    const expected = await applyInBatches(conversationsPerEvent, oracle.ids, history, () => 500);
    const batched = await tablesFor('batched');
    const random = seededRandom(7);
    const sizes = () => (random() < 0.4 ? 1 + Math.floor(random() * 3) : 1 + Math.floor(random() * 2000));
    const actual = await applyInBatches(conversationsProjection, batched.ids, history, sizes);

    for (const [logical, table] of Object.entries(oracle.names)) {
      const other = batched.names[logical] as string;
      const count = async (name: string) =>
        Number(await env.pool.oneFirst(sql.unsafe`SELECT count(*) FROM ${sql.identifier(name.split('.'))}`));
      const rows = await count(table);
      assert.ok(rows > 0, `${table} has rows`);
      assert.equal(await count(other), rows, `${logical}: as many rows`);
      for (const [a, b] of [
        [table, other],
        [other, table],
      ] as const) {
        const extra = await env.pool.any(sql.unsafe`
          SELECT * FROM ${sql.identifier(a.split('.'))} EXCEPT ALL SELECT * FROM ${sql.identifier(b.split('.'))}
          LIMIT 3`);
        assert.deepEqual(extra, [], `${logical}: rows of ${a} missing from ${b}`);
      }
    }
    assert.equal(actual.length, expected.length, 'one delta per conversation event');
    for (const [index, delta] of expected.entries()) {
      assert.deepStrictEqual(
        actual[index],
        delta,
        `delta ${index} (${delta.event.type} at ${delta.position})`,
      );
    }
  });
});
