import { Counter, Gauge, type Registry } from 'prom-client';

export type RealtimeMetrics = {
  connections: Gauge;
  subscriptions: Gauge<'kind'>;
  framesSent: Counter;
  closedSlow: Counter;
  gapRepairs: Counter;
};

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
  };
}
