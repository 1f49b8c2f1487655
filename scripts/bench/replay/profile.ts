/**
 * Where a projection's apply time goes, per event type: the projection is run as rebuildProjection
 * runs it (pages of `$all` filtered to its types, one transaction per page) into tables of its own,
 * through a connection that times every query. Time inside the query calls is the round trip:
 * slonik's Node work, the wire and Postgres; the rest is the projection's own JavaScript.
 */
import { performance } from 'node:perf_hooks';
import type { DatabasePool, DatabaseTransactionConnection } from 'slonik';
import type { EventStore } from '../../../src/eventstore/eventStore.ts';
import type { Projection, ProjectionContext } from '../../../src/projection/projection.ts';
import { tableIdentifiers } from '../../../src/projection/projectionRunner.ts';

export type TypeProfile = { type: string; events: number; ms: number; queryMs: number; queries: number };

const queryMethods = new Set([
  'query',
  'any',
  'anyFirst',
  'many',
  'manyFirst',
  'one',
  'oneFirst',
  'maybeOne',
  'maybeOneFirst',
  'exists',
]);

/** Applies the first `sample` events `projection` handles, timing each; returns one row per type. */
export async function profileProjection(
  deps: { store: EventStore; pool: DatabasePool },
  projection: Projection,
  sample: number,
  batch: number,
): Promise<TypeProfile[]> {
  const names = Object.fromEntries(
    Object.entries(projection.tables).map(([logical, qualified]) => [logical, `${qualified}__profile`]),
  );
  const tables = tableIdentifiers(names);
  const context: ProjectionContext = { tables, publish: () => {} };
  await deps.pool.transaction((tx) => projection.createTables(tx, tables));
  const byType = new Map<string, TypeProfile>();
  let current = { queryMs: 0, queries: 0 };
  const timed = (tx: DatabaseTransactionConnection): DatabaseTransactionConnection =>
    new Proxy(tx, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (typeof value !== 'function') return value;
        if (!queryMethods.has(String(property))) return value.bind(target);
        return async (...args: unknown[]) => {
          const started = performance.now();
          current.queries += 1;
          try {
            return await value.apply(target, args);
          } finally {
            current.queryMs += performance.now() - started;
          }
        };
      },
    });
  let after: bigint | undefined;
  let applied = 0;
  while (applied < sample) {
    const page = await deps.store.readAll({
      ...(after === undefined ? {} : { after }),
      filter: { eventTypes: projection.eventTypes },
      maxCount: Math.min(batch, sample - applied),
    });
    if (page.length === 0) break;
    await deps.pool.transaction(async (tx) => {
      const connection = timed(tx);
      for (const event of page) {
        current = { queryMs: 0, queries: 0 };
        const started = performance.now();
        await projection.applyBatch(connection, [event], context);
        const ms = performance.now() - started;
        const row = byType.get(event.type) ?? { type: event.type, events: 0, ms: 0, queryMs: 0, queries: 0 };
        row.events += 1;
        row.ms += ms;
        row.queryMs += current.queryMs;
        row.queries += current.queries;
        byType.set(event.type, row);
      }
    });
    applied += page.length;
    after = page.at(-1)?.position;
  }
  return [...byType.values()].sort((a, b) => b.ms - a.ms);
}
