/**
 * bench:fanout's reading of the server's /metrics, before and after a run: how much counters grew, and
 * the delta timing histograms (src/realtime/deltaTiming.ts) as percentiles of what the run added.
 */
import { hops } from '../../../src/realtime/deltaTiming.ts';

/** Every sample of one scrape: metric name, its labels, its value. */
export type Sample = { name: string; labels: Record<string, string>; value: number };

export function parseMetrics(text: string): Sample[] {
  return text.split('\n').flatMap((line) => {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!match) return [];
    const labels = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, key, value]) => [key, value]),
    );
    return [{ name: match[1] as string, labels, value: Number(match[3]) }];
  });
}

export async function scrape(base: string): Promise<Sample[]> {
  return parseMetrics(await (await fetch(`${base}/metrics`)).text());
}

/** How much a counter (summed over its labels) grew between two scrapes. */
export function increase(before: readonly Sample[], after: readonly Sample[], name: string): number {
  const total = (samples: readonly Sample[]) =>
    samples.reduce((sum, sample) => (sample.name === name ? sum + sample.value : sum), 0);
  return total(after) - total(before);
}

/** A histogram's cumulative bucket counts (ascending `le`, the last +Inf) for one label set. */
export type Buckets = { le: number; count: number }[];

export function buckets(
  samples: readonly Sample[],
  name: string,
  labels: Record<string, string> = {},
): Buckets {
  return samples
    .filter(
      (sample) =>
        sample.name === `${name}_bucket` &&
        Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
    )
    .map((sample) => ({
      le: sample.labels.le === '+Inf' ? Infinity : Number(sample.labels.le),
      count: sample.value,
    }))
    .sort((a, b) => a.le - b.le);
}

/** What was observed between two scrapes of the same histogram. */
export const between = (before: Buckets, after: Buckets): Buckets =>
  after.map(({ le, count }) => ({
    le,
    count: count - (before.find((bucket) => bucket.le === le)?.count ?? 0),
  }));

/**
 * The q-quantile (0–1) as Prometheus' histogram_quantile estimates it: linear within the bucket that
 * holds it (so no finer than the buckets), the highest finite bound when it falls in +Inf; NaN when
 * nothing was observed.
 */
export function quantile(observed: Buckets, q: number): number {
  const total = observed.at(-1)?.count ?? 0;
  if (total === 0) return Number.NaN;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const { le, count } of observed) {
    if (count >= rank) {
      if (!Number.isFinite(le)) return lower;
      return lower + ((le - lower) * (rank - below)) / Math.max(1, count - below);
    }
    lower = le;
    below = count;
  }
  return lower;
}

/** One run's delta timing on the server, in ms: p50 and p99 of each hop and of append → socket. */
export type ServerTiming = {
  deltas: number;
  hops: Record<(typeof hops)[number] | 'append_to_socket', { p50: number; p99: number }>;
};

export function serverTiming(before: readonly Sample[], after: readonly Sample[]): ServerTiming {
  const observed = (name: string, labels: Record<string, string> = {}) =>
    between(buckets(before, name, labels), buckets(after, name, labels));
  const percentiles = (buckets: Buckets) => ({
    p50: quantile(buckets, 0.5) * 1000,
    p99: quantile(buckets, 0.99) * 1000,
  });
  const total = observed('realtime_delta_latency_seconds');
  const perHop = hops.map((hop) => [hop, percentiles(observed('realtime_delta_hop_seconds', { hop }))]);
  return {
    deltas: total.at(-1)?.count ?? 0,
    hops: { ...Object.fromEntries(perHop), append_to_socket: percentiles(total) } as ServerTiming['hops'],
  };
}
