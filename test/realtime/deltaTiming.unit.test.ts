import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import type { DeltaHops } from '../../src/realtime/delta.ts';
import { hopSeconds, recordWritten } from '../../src/realtime/deltaTiming.ts';
import { createRealtimeMetrics } from '../../src/realtime/realtimeMetrics.ts';

const t0 = 1_800_000_000_000;

describe('delta timing', () => {
  it('names the time of every hop, and from append to socket', () => {
    const stamps: DeltaHops = {
      appendedAt: t0,
      projectedAt: t0 + 40,
      publishedAt: t0 + 41,
      receivedAt: t0 + 44,
      writtenAt: t0 + 50,
    };
    assert.deepEqual(hopSeconds(stamps), {
      hops: {
        append_to_projected: 0.04,
        projected_to_published: 0.001,
        published_to_received: 0.003,
        received_to_socket: 0.006,
      },
      total: 0.05,
    });
  });

  it('leaves out the hops a delta read back from the store never took', () => {
    assert.deepEqual(hopSeconds({ appendedAt: t0, writtenAt: t0 + 300 }), { hops: {}, total: 0.3 });
    assert.deepEqual(hopSeconds({ appendedAt: t0 }), { hops: {} });
  });

  it('counts a clock skew between nodes as no time, never as negative', () => {
    const { hops } = hopSeconds({
      appendedAt: t0,
      publishedAt: t0 + 10,
      receivedAt: t0 + 7,
      writtenAt: t0 + 9,
    });
    assert.equal(hops.published_to_received, 0);
    assert.equal(hops.received_to_socket, 0.002);
  });

  it('observes a delta once, however many times its frames are written', async () => {
    const registry = new Registry();
    const metrics = createRealtimeMetrics(registry);
    const stamps: DeltaHops = {
      appendedAt: t0,
      projectedAt: t0 + 20,
      publishedAt: t0 + 20,
      receivedAt: t0 + 20,
    };
    recordWritten(metrics, stamps, t0 + 25);
    recordWritten(metrics, stamps, t0 + 90);
    recordWritten(metrics, undefined, t0 + 90);
    assert.equal(stamps.writtenAt, t0 + 25);
    const text = await registry.metrics();
    assert.match(text, /^realtime_delta_latency_seconds_count 1$/m);
    assert.match(text, /^realtime_delta_hop_seconds_count\{hop="append_to_projected"\} 1$/m);
    assert.match(text, /^realtime_delta_hop_seconds_count\{hop="received_to_socket"\} 1$/m);
  });
});
