import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'slonik';
import { ProjectionRunner } from '../../src/projection/projectionRunner.ts';
import { rebuildProjection } from '../../src/projection/rebuild.ts';
import { thing } from '../eventstore/contract.ts';
import { openTestEventStore, testLogger } from '../support/database.ts';
import { things } from '../support/thingsProjection.ts';

describe('rebuilding a projection (npm run replay)', () => {
  let env: Awaited<ReturnType<typeof openTestEventStore>>;
  before(async () => {
    env = await openTestEventStore('projection_rebuild');
    await env.pool.query(sql.unsafe`CREATE TABLE refused (n int PRIMARY KEY)`);
    await env.pool.query(sql.unsafe`CREATE TABLE totals (sum bigint NOT NULL)`);
    await env.pool.query(sql.unsafe`INSERT INTO totals VALUES (0)`);
  });
  const runners: ProjectionRunner[] = [];
  const runner = (version = 1) => {
    const created = new ProjectionRunner(env.store, env.pool, [things('things', version)], testLogger);
    runners.push(created);
    return created;
  };
  after(async () => {
    await Promise.all(runners.map((created) => created.stop()));
    await env.close();
  });

  const seen = async () =>
    (await env.pool.anyFirst(sql.unsafe`SELECT n FROM things_seen ORDER BY n`)) as readonly number[];
  const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

  it('rebuilds into new tables while the live ones serve and are written, then swaps without a gap', async () => {
    const live = runner();
    await live.start();
    for (const n of range(0, 300)) await env.store.appendToStream(`things-${n % 13}`, [thing(n)]);
    // A row the rebuild must not carry over: the live table has drifted (the kind of damage a replay repairs).
    await env.pool.query(sql.unsafe`INSERT INTO things_seen VALUES (-1, -1)`);

    // Writers keep appending during the whole rebuild; the live runner keeps applying.
    let writing = true;
    let next = 300;
    const writer = (async () => {
      while (writing) {
        await env.store.appendToStream(`things-${next % 13}`, [thing(next)]);
        next++;
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    })();
    const result = await rebuildProjection({ store: env.store, pool: env.pool }, things(), { batchSize: 50 });
    writing = false;
    await writer;
    const { position } = await env.store.appendToStream('things-last', [thing(next)]);
    await live.waitFor(position, 'ThingHappened', 60_000);

    assert.deepEqual(await seen(), range(0, next + 1), 'every event once, before and after the swap');
    assert.equal(result.retired.length, 1);
    const retired = result.retired[0] ?? '';
    assert.match(retired, /^public\.things_seen__retired_\d{17}$/);
    const kept = Number(
      await env.pool.oneFirst(sql.unsafe`SELECT count(*) FROM ${sql.identifier(retired.split('.'))}`),
    );
    assert.ok(kept >= 301, 'the previous table is kept with its rows');
    assert.ok(result.events >= 300);
    assert.deepEqual(live.health(), { ok: true });
    const indexes = await env.pool.anyFirst(
      sql.unsafe`SELECT indexdef FROM pg_indexes WHERE tablename = 'things_seen' ORDER BY indexdef`,
    );
    assert.equal(indexes.length, 2, 'the rebuilt table has its key and, once filled, its index');
    assert.match(String(indexes[0]), /\(n\)$/);
  });

  it('stops a runner of the older version once a newer one has been swapped in', async () => {
    const old = runner();
    await old.start();
    await rebuildProjection({ store: env.store, pool: env.pool }, things('things', 2));
    const { position } = await env.store.appendToStream('things-after', [thing(100_000)]);
    await old.waitFor(position, 'ThingHappened', 1500);
    assert.match(old.parked.get('things')?.error ?? '', /replaced by version 2/);
    assert.ok(!(await seen()).includes(100_000), 'the old code wrote nothing into the new tables');

    const current = runner(2);
    await current.start();
    await current.waitFor(position, 'ThingHappened', 60_000);
    assert.ok((await seen()).includes(100_000), 'the new version goes on from the swap');
  });
});
