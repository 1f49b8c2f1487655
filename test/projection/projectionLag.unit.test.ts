import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProjectionLag } from '../../src/projection/projectionLag.ts';

const t0 = 1_800_000_000_000;

describe('projection lag', () => {
  it('is the age of the batch in hand, growing while it is applied, and nothing once it commits', () => {
    const lag = new ProjectionLag();
    assert.equal(lag.seconds(t0), 0);
    lag.took(t0 - 2000);
    assert.equal(lag.seconds(t0), 2);
    assert.equal(lag.seconds(t0 + 1500), 3.5);
    lag.committed(1000);
    assert.equal(lag.seconds(t0 + 1500), 0);
  });

  it('takes the probe’s oldest event while no batch is in hand, unless a batch came since it began', () => {
    const lag = new ProjectionLag();
    const idle = lag.probing();
    lag.probed(idle, { events: 3, oldest: t0 - 4000 });
    assert.equal(lag.seconds(t0), 4, 'a subscription that delivers nothing: the probe sees the events');
    assert.equal(lag.events, 3);

    const early = lag.probing();
    lag.took(t0 - 4000);
    lag.committed(3);
    lag.probed(early, { events: 3, oldest: t0 - 4000 });
    assert.equal(lag.seconds(t0 + 100), 0, 'the probe read before the commit: old news');
    assert.equal(lag.events, 0, 'its count less what was committed since it began');
  });

  it('counts what the probe counted less what was committed since', () => {
    const lag = new ProjectionLag();
    lag.took(t0);
    const began = lag.probing();
    lag.committed(400);
    lag.probed(began, { events: 1000, oldest: t0 });
    assert.equal(lag.events, 600);
    lag.took(t0 + 10);
    lag.committed(1000);
    assert.equal(lag.events, 0);
  });
});
