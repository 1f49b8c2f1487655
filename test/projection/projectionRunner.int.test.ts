import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'slonik';
import type { Projection } from '../../src/projection/projection.ts';
import { ProjectionRunner } from '../../src/projection/projectionRunner.ts';
import { thing } from '../eventstore/contract.ts';
import { openTestEventStore, testLogger } from '../support/database.ts';

/** Records every ThingHappened it sees; refuses n = 13 (a projection bug). */
const things: Projection = {
  name: 'things',
  version: 1,
  eventTypes: ['ThingHappened'],
  async apply(tx, event) {
    const { n } = event.data as { n: number };
    if (n === 13) throw new Error('unlucky');
    await tx.query(
      sql.unsafe`INSERT INTO seen_things (position, n) VALUES (${String(event.position)}, ${n})`,
    );
  },
};

describe('projection runner', () => {
  let env: Awaited<ReturnType<typeof openTestEventStore>>;
  before(async () => {
    env = await openTestEventStore('projection_runner');
    await env.pool.query(sql.unsafe`CREATE TABLE seen_things (position bigint PRIMARY KEY, n int NOT NULL)`);
  });
  after(async () => {
    await env.close();
  });

  const seen = async () =>
    (await env.pool.anyFirst(sql.unsafe`SELECT n FROM seen_things ORDER BY n`)) as readonly number[];

  it('applies each event once, and resumes after its checkpoint when started again', async () => {
    await env.store.appendToStream(
      'things-1',
      [1, 2, 3].map((n) => thing(n)),
    );
    const first = new ProjectionRunner(env.store, env.pool, [things], testLogger);
    await first.start();
    const { position } = await env.store.appendToStream('things-2', [thing(4)]);
    await first.waitFor(position, 'ThingHappened');
    assert.deepEqual(await seen(), [1, 2, 3, 4]);
    await first.stop();

    const { position: later } = await env.store.appendToStream('things-1', [thing(5), thing(6)]);
    const second = new ProjectionRunner(env.store, env.pool, [things], testLogger);
    await second.start();
    await second.waitFor(later, 'ThingHappened');
    assert.deepEqual(await seen(), [1, 2, 3, 4, 5, 6], 'nothing applied twice, nothing missed');
    assert.deepEqual(second.health(), { ok: true });
    await second.stop();
  });

  it('parks a projection that throws, keeps its checkpoint before the event, and reports it', async () => {
    const runner = new ProjectionRunner(env.store, env.pool, [things], testLogger);
    await runner.start();
    const { position } = await env.store.appendToStream('things-3', [thing(12), thing(13), thing(14)]);
    await runner.waitFor(position, 'ThingHappened', 2000); // gives up: the projection is parked
    assert.equal(runner.health().ok, false);
    assert.match(runner.health().detail ?? '', /^parked: things at position \d+$/);
    assert.ok(!(await seen()).includes(14), 'nothing after the failing event is applied');
    const checkpoint = await env.pool.oneFirst(
      sql.unsafe`SELECT position FROM projection.checkpoints WHERE name = 'things'`,
    );
    const parkedAt = runner.parked.get('things')?.position ?? 0n;
    assert.ok((checkpoint as bigint) < parkedAt, 'the checkpoint stays before the failing batch');
    await runner.stop();
  });
});
