import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  createReadModelTables,
  explain,
  fillReadModels,
  planNodes,
  type Scenario,
  scenarios,
} from '../../scripts/bench/queries/readModelData.ts';
import { migrate } from '../../src/db/migrate.ts';
import { createDatabasePool, type DatabasePool } from '../../src/db/pool.ts';
import { createTestDatabase, type TestDatabase, testLogger } from '../support/database.ts';

/**
 * The console's reads stay on their indexes: on ~50k messages (5 organizations × 1,000 conversations
 * × 10 messages, analyzed), the exact SQL of the inbox and history queries, run as the API runs it,
 * reads conversations and messages through their indexes, never a sequential scan, and a first page
 * follows its index in inbox order.
 */
describe('read-model query plans', { timeout: 180_000 }, () => {
  let db: TestDatabase;
  let pool: DatabasePool;
  let reads: Scenario[];
  const shape = { orgs: 5, conversations: 1000, messages: 10 };
  before(async () => {
    db = await createTestDatabase('read_model_plans');
    await migrate(db.url, testLogger);
    pool = await createDatabasePool(db.url, 2);
    await createReadModelTables(pool);
    await fillReadModels(pool, shape);
    reads = await scenarios(pool, shape);
  });
  after(async () => {
    await pool?.end();
    await db?.drop();
  });

  it('reads the inbox and message history through index scans', async () => {
    assert.ok(reads.length >= 9);
    for (const read of reads) {
      const [[plan]] = (await explain(pool, read.query, 'json')) as [[{ Plan: Record<string, unknown> }]];
      const scans = [...planNodes(plan.Plan)].filter((node) =>
        /^(conversations|messages)_p\d+$/.test(String(node['Relation Name'] ?? '')),
      );
      const summary = scans.map((node) => `${node['Node Type']} ${node['Relation Name']}`).join(', ');
      assert.ok(scans.length > 0, `${read.name}: reads no partition? ${JSON.stringify(plan.Plan)}`);
      for (const node of scans) {
        assert.notEqual(node['Node Type'], 'Seq Scan', `${read.name}: ${summary}`);
        // A first page reads its index in order and stops after a page: no sort of all that matches.
        // (Near the end of a list, or with two filters, a bitmap over the few rows left may be cheaper.)
        if (/first page|newest page/.test(read.name)) {
          assert.match(String(node['Node Type']), /^Index (Only )?Scan$/, `${read.name}: ${summary}`);
        }
      }
    }
  });

  it('answers every read with at most a page and one row more', async () => {
    for (const read of reads) {
      const page = (await read.run()) as { items: unknown[]; nextCursor: string | null };
      assert.ok(page.items.length <= 50, read.name);
    }
  });
});
