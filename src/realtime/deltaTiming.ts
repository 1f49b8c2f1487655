import type { DeltaHops } from './delta.ts';
import type { RealtimeMetrics } from './realtimeMetrics.ts';

/**
 * The hops between a webhook and an agent's screen, each the time between two stamps of a delta
 * (delta.ts, DeltaHops): the slow one is the one to look at.
 */
export const hops = [
  'append_to_projected',
  'projected_to_published',
  'published_to_received',
  'received_to_socket',
] as const;
export type Hop = (typeof hops)[number];

const ends: Record<Hop, readonly [keyof DeltaHops, keyof DeltaHops]> = {
  append_to_projected: ['appendedAt', 'projectedAt'],
  projected_to_published: ['projectedAt', 'publishedAt'],
  published_to_received: ['publishedAt', 'receivedAt'],
  received_to_socket: ['receivedAt', 'writtenAt'],
};

/**
 * Seconds each hop took, for the hops whose two stamps the delta has (one read back from the store has
 * no projected, published or received time), and from append to socket. Never negative: between
 * nodes a hop includes their clock skew, and a skew is no time spent.
 */
export function hopSeconds(stamps: DeltaHops): { hops: Partial<Record<Hop, number>>; total?: number } {
  const seconds = (from: number | undefined, to: number | undefined) =>
    Number.isFinite(from) && Number.isFinite(to)
      ? Math.max(0, ((to as number) - (from as number)) / 1000)
      : undefined;
  const result: { hops: Partial<Record<Hop, number>>; total?: number } = { hops: {} };
  for (const hop of hops) {
    const [from, to] = ends[hop];
    const value = seconds(stamps[from], stamps[to]);
    if (value !== undefined) result.hops[hop] = value;
  }
  const total = seconds(stamps.appendedAt, stamps.writtenAt);
  if (total !== undefined) result.total = total;
  return result;
}

/**
 * The hub wrote a delta's first frame on this node: stamps it and observes its hops, once per delta
 * and node however many sockets it went to (a delta already stamped is not observed again).
 */
export function recordWritten(metrics: RealtimeMetrics, stamps: DeltaHops | undefined, now: number): void {
  if (!stamps || stamps.writtenAt !== undefined) return;
  stamps.writtenAt = now;
  const { hops: taken, total } = hopSeconds(stamps);
  for (const hop of hops) {
    const value = taken[hop];
    if (value !== undefined) metrics.deltaHops.observe({ hop }, value);
  }
  if (total !== undefined) metrics.deltaLatency.observe(total);
}
