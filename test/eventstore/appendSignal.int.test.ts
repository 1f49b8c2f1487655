import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type AppendedTypes, AppendSignal } from '../../src/eventstore/appendSignal.ts';
import { PostgresEventStore } from '../../src/eventstore/postgresEventStore.ts';
import {
  createTestDatabase,
  openTestEventStore,
  type TestDatabase,
  testLogger,
  testRegistry,
} from '../support/database.ts';
import { take, thing } from './contract.ts';

describe('append wake-ups across processes (LISTEN/NOTIFY)', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase('append_signal');
  });
  after(async () => {
    await db.drop();
  });

  it("wakes another node's subscribers, but not its own twice", async () => {
    const nodeA = new AppendSignal(db.url, testLogger);
    const nodeB = new AppendSignal(db.url, testLogger);
    await nodeA.start();
    await nodeB.start();
    try {
      let wakeUpsOnA = 0;
      nodeA.subscribe(() => {
        wakeUpsOnA += 1;
      });
      const wokenOnB = new Promise<AppendedTypes>((resolve) => nodeB.subscribe(resolve));
      nodeA.appended(new Set(['ThingHappened', 'OtherThingHappened']));
      // The NOTIFY names the types appended, so B's subscribers filtering on others can stay asleep.
      assert.deepEqual(await wokenOnB, new Set(['ThingHappened', 'OtherThingHappened']));
      assert.equal(wakeUpsOnA, 1, 'node A wakes its own subscribers directly, and ignores its own NOTIFY');
    } finally {
      await nodeA.close();
      await nodeB.close();
    }
  });
});

describe('a live subscriber on another node', () => {
  it('receives appends made through a different store instance', async () => {
    const writer = await openTestEventStore('append_signal_nodes');
    // A second store on the same database stands for a second server process.
    const otherNode = await PostgresEventStore.open({
      pool: writer.pool,
      databaseUrl: writer.db.url,
      registry: testRegistry(),
      logger: testLogger,
    });
    const subscription = otherNode.subscribeToAll({ filter: { categories: ['nodes'] } });
    try {
      const first = take(subscription, 1);
      await writer.store.appendToStream('nodes-1', [thing(1)]);
      assert.deepEqual((await first)[0]?.data, { n: 1 });
    } finally {
      await subscription.close();
      await otherNode.close();
      await writer.close();
    }
  });
});
