import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import {
  type Buckets,
  increase,
  parseMetrics,
  quantile,
  serverTiming,
} from '../../../../scripts/bench/fanout/serverMetrics.ts';
import { createRealtimeMetrics } from '../../../../src/realtime/realtimeMetrics.ts';

describe('bench:fanout reading the server’s /metrics', () => {
  it('estimates a quantile within its bucket, as histogram_quantile does', () => {
    const observed: Buckets = [
      { le: 0.1, count: 50 },
      { le: 0.2, count: 90 },
      { le: 0.5, count: 100 },
      { le: Number.POSITIVE_INFINITY, count: 100 },
    ];
    assert.equal(quantile(observed, 0.5), 0.1);
    assert.ok(Math.abs(quantile(observed, 0.7) - 0.15) < 1e-9);
    assert.ok(Math.abs(quantile(observed, 0.95) - 0.35) < 1e-9);
    assert.equal(
      quantile(
        [
          { le: 1, count: 0 },
          { le: Number.POSITIVE_INFINITY, count: 4 },
        ],
        0.5,
      ),
      1,
    );
    assert.ok(Number.isNaN(quantile([{ le: Number.POSITIVE_INFINITY, count: 0 }], 0.5)));
  });

  it('gives each hop’s percentiles of what a run added, and how much a counter grew', async () => {
    const registry = new Registry();
    const metrics = createRealtimeMetrics(registry);
    metrics.deltaLatency.observe(5);
    metrics.framesSent.inc(7);
    const before = parseMetrics(await registry.metrics());
    for (const seconds of [0.01, 0.01, 0.01, 0.04]) {
      metrics.deltaLatency.observe(seconds);
      metrics.deltaHops.observe({ hop: 'append_to_projected' }, seconds);
    }
    metrics.framesSent.inc(3);
    const after = parseMetrics(await registry.metrics());

    assert.equal(increase(before, after, 'ws_frames_sent_total'), 3);
    const timing = serverTiming(before, after);
    assert.equal(timing.deltas, 4, 'the observation before the run is not the run’s');
    // Three of four in the 5–10 ms bucket: the median is two thirds into it.
    assert.ok(Math.abs(timing.hops.append_to_socket.p50 - 25 / 3) < 1e-9);
    assert.ok(timing.hops.append_to_socket.p99 > 30 && timing.hops.append_to_socket.p99 <= 50);
    assert.equal(timing.hops.append_to_projected.p50, timing.hops.append_to_socket.p50);
    assert.ok(Number.isNaN(timing.hops.received_to_socket.p50), 'a hop nothing was observed on');
  });
});
