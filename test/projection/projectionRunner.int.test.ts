import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { sql } from 'slonik';
import type { Projection } from '../../src/projection/projection.ts';
import { ProjectionRunner } from '../../src/projection/projectionRunner.ts';
import { type ConversationDelta, InProcessDeltaBus } from '../../src/realtime/delta.ts';
import { thing } from '../eventstore/contract.ts';
import { openTestEventStore, testLogger } from '../support/database.ts';
import { things } from '../support/thingsProjection.ts';

describe('projection runner', () => {
  let env: Awaited<ReturnType<typeof openTestEventStore>>;
  before(async () => {
    env = await openTestEventStore('projection_runner');
    await env.pool.query(sql.unsafe`CREATE TABLE refused (n int PRIMARY KEY)`);
    await env.pool.query(sql.unsafe`CREATE TABLE totals (sum bigint NOT NULL)`);
    await env.pool.query(sql.unsafe`INSERT INTO totals VALUES (0)`);
  });
  after(async () => {
    await env.close();
  });

  const seen = async (name = 'things') =>
    (await env.pool.anyFirst(
      sql.unsafe`SELECT n FROM ${sql.identifier([`${name}_seen`])} ORDER BY n`,
    )) as readonly number[];
  const total = async () => Number(await env.pool.oneFirst(sql.unsafe`SELECT sum FROM totals`));
  const runner = (projection: Projection, bus?: InProcessDeltaBus, registry?: Registry) =>
    new ProjectionRunner(env.store, env.pool, [projection], testLogger, {
      ...(bus ? { bus } : {}),
      ...(registry ? { metricsRegistry: registry } : {}),
      lagProbeMs: 100,
      readyLagSeconds: 60,
    });

  it('creates its tables on first start, applies each event once, resumes after its checkpoint', async () => {
    await env.store.appendToStream(
      'things-1',
      [1, 2, 3].map((n) => thing(n)),
    );
    const first = runner(things());
    await first.start();
    const { position } = await env.store.appendToStream('things-2', [thing(4)]);
    await first.waitFor(position, 'ThingHappened', 60_000);
    assert.deepEqual(await seen(), [1, 2, 3, 4]);
    await first.stop();

    const { position: later } = await env.store.appendToStream('things-1', [thing(5), thing(6)]);
    const second = runner(things());
    await second.start();
    await second.waitFor(later, 'ThingHappened', 60_000);
    assert.deepEqual(await seen(), [1, 2, 3, 4, 5, 6], 'nothing applied twice, nothing missed');
    assert.equal(await total(), 21);
    assert.deepEqual(second.health(), { ok: true });
    await second.stop();
  });

  it('two runners on one database (two nodes) apply every event exactly once between them', async () => {
    const before = await total();
    const busA = new InProcessDeltaBus();
    const busB = new InProcessDeltaBus();
    const published: string[] = [];
    for (const bus of [busA, busB]) {
      bus.subscribe((deltas) => published.push(...deltas.map((delta) => delta.position)));
    }
    const [a, b] = [runner(things(), busA), runner(things(), busB)];
    await Promise.all([a.start(), b.start()]);
    let sum = 0;
    let last = 0n;
    for (let round = 0; round < 20; round++) {
      const batch = Array.from({ length: 10 }, (_, i) => 100 + round * 10 + i);
      sum += batch.reduce((x, y) => x + y, 0);
      const results = await Promise.all(
        batch.map((n) => env.store.appendToStream(`things-${n % 7}`, [thing(n)])),
      );
      last = results.at(-1)?.position ?? last;
    }
    await Promise.all([a.waitFor(last, 'ThingHappened', 60_000), b.waitFor(last, 'ThingHappened', 60_000)]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(await total(), before + sum, 'no event applied twice or missed');
    assert.equal(published.length, 200, 'each delta published once, by the node that applied it');
    assert.equal(new Set(published).size, 200);
    await Promise.all([a.stop(), b.stop()]);
  });

  it('publishes deltas only after its batch commits', async () => {
    const bus = new InProcessDeltaBus();
    const projection = runner(things(), bus);
    const committed: boolean[] = [];
    bus.subscribe((deltas: readonly ConversationDelta[]) => {
      void Promise.all(
        deltas.map((delta) =>
          env.pool.exists(sql.unsafe`SELECT 1 FROM things_seen WHERE position = ${delta.position}`),
        ),
      ).then((found) => committed.push(...found));
    });
    await projection.start();
    const { position } = await env.store.appendToStream('things-9', [thing(7), thing(8)]);
    await projection.waitFor(position, 'ThingHappened', 60_000);
    while (committed.length < 2) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(committed, [true, true]);
    await projection.stop();
  });

  it('parks on an event it cannot apply, reports it, and resumes by itself once the cause is fixed', async () => {
    await env.pool.query(sql.unsafe`INSERT INTO refused VALUES (13)`);
    const registry = new Registry();
    const projection = runner(things(), undefined, registry);
    await projection.start();
    const { position } = await env.store.appendToStream('things-parked', [thing(12), thing(13), thing(14)]);
    await projection.waitFor(position, 'ThingHappened', 1500); // gives up: the projection is parked
    assert.equal(projection.health().ok, false);
    assert.match(projection.health().detail ?? '', /^things parked at position \d+$/);
    assert.ok(!(await seen()).includes(12), 'the failing batch is not applied in part');
    assert.match(await registry.metrics(), /projection_parked\{projection="things"\} 1/);
    const parkedAt = projection.parked.get('things')?.position;
    const [thirteen] = await env.store.readStream('things-parked', { fromRevision: 1n, maxCount: 1 });
    assert.equal(parkedAt, thirteen?.position, 'parked on the event that failed');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.match(await registry.metrics(), /projection_lag_events\{projection="things"\} 3/);

    await env.pool.query(sql.unsafe`DELETE FROM refused WHERE n = 13`);
    await projection.waitFor(position, 'ThingHappened', 60_000);
    assert.ok((await seen()).includes(14), 'resumed after the fix');
    assert.deepEqual(projection.health(), { ok: true });
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.match(await registry.metrics(), /projection_lag_events\{projection="things"\} 0/);
    assert.match(await registry.metrics(), /projection_parked\{projection="things"\} 0/);
    await projection.stop();
  });

  it('reports itself not ready while it is further behind than the bound', async () => {
    const slow: Projection = {
      ...things('slow'),
      async applyBatch(tx, events, context) {
        if (events.some((event) => (event.data as { n: number }).n === 4242))
          await new Promise((resolve) => setTimeout(resolve, 2500));
        await things('slow').applyBatch(tx, events, context);
      },
    };
    const projection = new ProjectionRunner(env.store, env.pool, [slow], testLogger, {
      lagProbeMs: 100,
      readyLagSeconds: 1,
    });
    await projection.start();
    const { position: caughtUp } = await env.store.appendToStream('things-slow', [thing(1)]);
    await projection.waitFor(caughtUp, 'ThingHappened', 60_000);
    const { position } = await env.store.appendToStream('things-slow', [thing(4242)]);
    await new Promise((resolve) => setTimeout(resolve, 1800));
    assert.match(projection.health().detail ?? '', /^slow \d+ s behind$/);
    await projection.waitFor(position, 'ThingHappened', 60_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(projection.health(), { ok: true });
    await projection.stop();
  });

  it('will not run code of another version on its tables', async () => {
    const newer = runner(things('things', 2));
    await newer.start();
    assert.match(newer.health().detail ?? '', /things parked/);
    assert.match(newer.parked.get('things')?.error ?? '', /hold version 1.*npm run replay -- things/);
    await newer.stop();
  });
});
