import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import type { Projection } from '../../src/projection/projection.ts';
import { ProjectionRunner } from '../../src/projection/projectionRunner.ts';
import { thing } from '../eventstore/contract.ts';
import { openTestEventStore, testLogger } from '../support/database.ts';

/** Applies nothing, but a batch holding n = 0 waits until `open` is called. */
function gated() {
  let open: () => void = () => {};
  let entered = false;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  const projection: Projection = {
    name: 'gated',
    version: 1,
    eventTypes: ['ThingHappened'],
    tables: {},
    async createTables() {},
    async applyBatch(_tx, events) {
      if (events.some((event) => (event.data as { n: number }).n === 0)) {
        entered = true;
        await gate;
      }
    },
  };
  return { projection, open: () => open(), entered: () => entered };
}

const until = async (condition: () => boolean | Promise<boolean>, what: string) => {
  const deadline = Date.now() + 15_000;
  while (!(await condition())) {
    assert.ok(Date.now() < deadline, `timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

describe('projection lag under load', () => {
  let env: Awaited<ReturnType<typeof openTestEventStore>>;
  before(async () => {
    env = await openTestEventStore('projection_lag');
  });
  after(async () => {
    await env.close();
  });

  it('reads the backlog’s age between probes, and nothing once it is applied', async () => {
    const registry = new Registry();
    const { projection, open, entered } = gated();
    // No probe during the test: what it shows comes from the batches alone.
    const runner = new ProjectionRunner(env.store, env.pool, [projection], testLogger, {
      metricsRegistry: registry,
      lagProbeMs: 3_600_000,
      readyLagSeconds: 0.5,
    });
    await runner.start();
    const lagSeconds = async () =>
      Number(/^projection_lag_seconds\{projection="gated"\} (\S+)$/m.exec(await registry.metrics())?.[1]);
    try {
      const { position: first } = await env.store.appendToStream('things-lag', [thing(1)]);
      await runner.waitFor(first, 'ThingHappened', 60_000);
      assert.equal(await lagSeconds(), 0);

      // A batch stuck in the projection, and a backlog piling up behind it.
      await env.store.appendToStream('things-lag', [thing(0)]);
      await until(entered, 'the projection holds the batch');
      let last = first;
      for (let n = 2; n < 50; n += 1)
        last = (await env.store.appendToStream('things-lag', [thing(n)])).position;
      await until(async () => (await lagSeconds()) > 0.6, 'the lag shows the backlog’s age');
      assert.match(runner.health().detail ?? '', /^gated \d+ s behind$/);

      open();
      await runner.waitFor(last, 'ThingHappened', 60_000);
      assert.equal(await lagSeconds(), 0, 'caught up: no lag left');
      assert.deepEqual(runner.health(), { ok: true });
    } finally {
      open();
      await runner.stop();
    }
  });
});
