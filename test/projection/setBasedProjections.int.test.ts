import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'slonik';
import { conversationTimersProjection } from '../../projections/conversationTimers.ts';
import { flowRunsProjection } from '../../projections/flowRuns.ts';
import { flowSecretsProjection } from '../../projections/flowSecrets.ts';
import { flowsProjection } from '../../projections/flows.ts';
import { identityProjection } from '../../projections/identity.ts';
import { outboundProjection } from '../../projections/outbound.ts';
import { seededRandom } from '../../scripts/bench/replay/history.ts';
import type { RecordedEvent } from '../../src/eventstore/eventStore.ts';
import { validateEvents } from '../../src/eventstore/eventValidator.ts';
import type { Projection } from '../../src/projection/projection.ts';
import { openTestEventStore, testRegistry } from '../support/database.ts';
import { applyInBatches, assertSameRows, countRows, tablesFor } from '../support/projectionTables.ts';
import {
  randomFlowHistory,
  randomFlowRunHistory,
  randomFlowSecretHistory,
  randomIdentityHistory,
  randomOutboundHistory,
  randomTimerHistory,
} from '../support/randomProjectionHistories.ts';
import { conversationTimersPerEvent } from './perEventOracle/conversationTimers.ts';
import { flowRunsPerEvent } from './perEventOracle/flowRuns.ts';
import { flowSecretsPerEvent } from './perEventOracle/flowSecrets.ts';
import { flowsPerEvent } from './perEventOracle/flows.ts';
import { identityPerEvent } from './perEventOracle/identity.ts';
import { outboundPerEvent } from './perEventOracle/outbound.ts';

/**
 * The six projections that became set-based, against the per-event SQL they replaced: the same seeded
 * history applied (a) one event per batch and transaction, (b) in batches of random sizes from 1 to
 * 2,000, and (c) by the old per-event SQL, must leave every table with the same rows.
 */
const cases: { projection: Projection; perEvent: Projection; history: RecordedEvent[] }[] = [
  { projection: outboundProjection, perEvent: outboundPerEvent, history: randomOutboundHistory(11, 2000) },
  {
    projection: conversationTimersProjection,
    perEvent: conversationTimersPerEvent,
    history: randomTimerHistory(12, 1200),
  },
  { projection: flowRunsProjection, perEvent: flowRunsPerEvent, history: randomFlowRunHistory(13, 2000) },
  { projection: identityProjection, perEvent: identityPerEvent, history: randomIdentityHistory(14, 1500) },
  { projection: flowsProjection, perEvent: flowsPerEvent, history: randomFlowHistory(15, 1500) },
  {
    projection: flowSecretsProjection,
    perEvent: flowSecretsPerEvent,
    history: randomFlowSecretHistory(16, 800),
  },
] as { projection: Projection; perEvent: Projection; history: RecordedEvent[] }[];

describe('set-based projections', { timeout: 300_000 }, () => {
  let env: Awaited<ReturnType<typeof openTestEventStore>>;
  before(async () => {
    env = await openTestEventStore('set_based_projections');
    // Thousands of one-event transactions: their commits need not wait for the disk here.
    await env.pool.query(
      sql.unsafe`ALTER DATABASE ${sql.identifier([env.db.name])} SET synchronous_commit = off`,
    );
  });
  after(async () => {
    await env?.close();
  });

  for (const { projection, perEvent, history } of cases) {
    it(`${projection.name}: one event at a time, in random batches and as the per-event SQL did, the same rows`, async () => {
      validateEvents(testRegistry(), history);
      const types = new Set(history.map((event) => event.type));
      for (const type of projection.eventTypes) assert.ok(types.has(type), `the history has ${type}`);

      const { pool } = env;
      const oracle = await tablesFor(pool, projection, 'oracle');
      // The per-event SQL runs event by event whatever the transaction: 200 to a transaction saves time.
      await applyInBatches(pool, perEvent, oracle.ids, history, () => 200);
      for (const table of Object.values(oracle.names)) {
        assert.ok((await countRows(pool, table)) > 0, `${table} has rows`);
      }

      const single = await tablesFor(pool, projection, 'single');
      await applyInBatches(pool, projection, single.ids, history, () => 1);
      await assertSameRows(pool, oracle.names, single.names);

      const batched = await tablesFor(pool, projection, 'batched');
      const random = seededRandom(history.length);
      // Log-uniform: as many batches of 1 to 10 as of 10 to 100, 100 to 1,000 and beyond.
      await applyInBatches(pool, projection, batched.ids, history, () => Math.ceil(2000 ** random()));
      await assertSameRows(pool, oracle.names, batched.names);
      await assertSameRows(pool, single.names, batched.names);
    });
  }
});
