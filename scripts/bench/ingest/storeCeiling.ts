/**
 * Ceiling B of scripts/bench/ingest.ts: the event store's grouped append, in this process, on the
 * bench database (the server stopped). What the webhook route must do per delivery, and nothing
 * else: one ~300-byte event appended to one of 1,000 streams with its exact expected revision, with
 * as many appends in flight as wrk has connections, through the store's group commit with the
 * server's settings (500 appends per batch, 2 batches in flight).
 */
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { createDatabasePool } from '../../../src/db/pool.ts';
import { PostgresEventStore } from '../../../src/eventstore/postgresEventStore.ts';
import type { Logger } from '../../../src/log/logger.ts';
import { SchemaRegistry, schemasDir } from '../../../src/schemas/schemaRegistry.ts';
import { benchEvent } from '../benchEvent.ts';
import { percentile, runLoops, type Usage } from '../measure.ts';
import { type Batches, batchesAfter, lastPosition } from './batches.ts';

export type StoreCeiling = {
  appendsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  batches: Batches;
  usage: Usage;
};

type Stream = { name: string; from: string; revision: bigint };
/** One loop's streams, taken in turn: no two loops share a stream, as no two actors do. */
type Loop = { streams: Stream[]; next: number };

export async function measureStoreCeiling(
  db: { url: string; admin: pg.Client; logger: Logger },
  options: { streams: number; inFlight: number; seconds: number; pool: number },
): Promise<StoreCeiling> {
  const pool = await createDatabasePool(db.url, options.pool);
  const registry = new SchemaRegistry([schemasDir, fileURLToPath(new URL('../schemas/', import.meta.url))]);
  const store = await PostgresEventStore.open({ pool, databaseUrl: db.url, registry, logger: db.logger });
  try {
    const streams = Array.from({ length: options.streams }, (_, index) => ({
      name: `conversation-${randomUUID()}`,
      from: `55119${String(index).padStart(8, '0')}`,
      revision: -1n,
    }));
    const loops: Loop[] = Array.from({ length: options.inFlight }, (_, loop) => ({
      streams: streams.filter((_, index) => index % options.inFlight === loop),
      next: 0,
    }));
    const append = async (loop: Loop) => {
      const stream = loop.streams[loop.next++ % loop.streams.length] as Stream;
      const expected = stream.revision === -1n ? 'no_stream' : stream.revision;
      const result = await store.appendToStream(stream.name, [benchEvent(stream.from)], expected);
      stream.revision = result.nextExpectedRevision;
    };
    // Warm-up: every stream exists before the timed run, as live conversations do.
    await runLoops(loops, 2 * options.streams, 60, append);
    await db.admin.query('ANALYZE es.events, es.streams');
    await db.admin.query('CHECKPOINT');
    const from = await lastPosition(db.admin);
    const run = await runLoops(loops, options.seconds * 100_000, options.seconds, append);
    return {
      batches: await batchesAfter(db.admin, from),
      appendsPerSecond: run.events / (run.usage.wallMs / 1000),
      p50Ms: percentile(run.latencies, 50),
      p99Ms: percentile(run.latencies, 99),
      usage: run.usage,
    };
  } finally {
    await store.close();
    await pool.end();
  }
}
