import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export type RealtimeMetrics = {
  connections: Gauge;
  subscriptions: Gauge<'kind'>;
  framesSent: Counter;
  closedSlow: Counter;
  gapRepairs: Counter;
  deltaHops: Histogram<'hop'>;
  deltaLatency: Histogram;
};

/** Seconds, fine below the 250 ms a console delta should take at the 99th percentile. */
const latencyBuckets = [
  0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1, 2, 5, 10,
  30,
];

export function createRealtimeMetrics(registry: Registry): RealtimeMetrics {
  return {
    connections: new Gauge({
      name: 'ws_connections',
      help: 'Open agent-console WebSockets on this node',
      registers: [registry],
    }),
    subscriptions: new Gauge({
      name: 'ws_subscriptions',
      help: 'Topics subscribed on this node, by kind (inbox, conversation)',
      labelNames: ['kind'],
      registers: [registry],
    }),
    framesSent: new Counter({
      name: 'ws_frames_sent_total',
      help: 'Frames sent to agent consoles (a frame published to a topic counts once per subscriber)',
      registers: [registry],
    }),
    closedSlow: new Counter({
      name: 'ws_closed_slow_total',
      help: 'WebSockets closed with 1013 because their unsent data passed WS_MAX_BUFFER_BYTES',
      registers: [registry],
    }),
    gapRepairs: new Counter({
      name: 'ws_delta_gap_repairs_total',
      help: 'Gaps in a conversation’s deltas (lost, reordered, or missed while the bus was away) filled from the event store',
      registers: [registry],
    }),
    deltaHops: new Histogram({
      name: 'realtime_delta_hop_seconds',
      help: 'Time a conversation delta took on each hop to the agent consoles (append_to_projected, projected_to_published, published_to_received, received_to_socket), once per delta written on this node',
      labelNames: ['hop'],
      buckets: latencyBuckets,
      registers: [registry],
    }),
    deltaLatency: new Histogram({
      name: 'realtime_delta_latency_seconds',
      help: 'Time from an event’s append to its delta’s first frame written on this node, once per delta',
      buckets: latencyBuckets,
      registers: [registry],
    }),
  };
}
