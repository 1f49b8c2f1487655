import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { conversationsProjection } from '../../projections/conversations.ts';
import { seededRandom } from '../../scripts/bench/replay/history.ts';
import { validateEvents } from '../../src/eventstore/eventValidator.ts';
import { openTestEventStore, testRegistry } from '../support/database.ts';
import { applyInBatches, assertSameRows, countRows, tablesFor } from '../support/projectionTables.ts';
import { randomConversationHistory } from '../support/randomConversationHistory.ts';
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

  it('leaves every row and publishes every delta as the per-event projection did, whatever the batch sizes', async () => {
    const history = randomConversationHistory({ events, seed: 20261208, organizations: 4, customers: 600 });
    validateEvents(testRegistry(), history);
    const types = new Set(history.map((event) => event.type));
    for (const type of conversationsProjection.eventTypes)
      assert.ok(types.has(type), `the history has ${type}`);

    // The per-event code applied one event at a time (in transactions of 500: its statements run event
    // by event whatever the transaction), then the set-based code in batches of random sizes.
    const oracle = await tablesFor(env.pool, conversationsProjection, 'oracle');
    const expected = await applyInBatches(env.pool, conversationsPerEvent, oracle.ids, history, () => 500);
    const batched = await tablesFor(env.pool, conversationsProjection, 'batched');
    const random = seededRandom(7);
    const sizes = () => (random() < 0.4 ? 1 + Math.floor(random() * 3) : 1 + Math.floor(random() * 2000));
    const actual = await applyInBatches(env.pool, conversationsProjection, batched.ids, history, sizes);

    for (const table of Object.values(oracle.names)) {
      assert.ok((await countRows(env.pool, table)) > 0, `${table} has rows`);
    }
    await assertSameRows(env.pool, oracle.names, batched.names);
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
