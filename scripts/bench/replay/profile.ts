/**
 * Where a projection's apply time goes, per statement: the projection is run as rebuildProjection
 * runs it (pages of `$all` filtered to its types, one transaction and one applyBatch per page) into
 * tables of its own, through a connection that times every query and names it by its verb and table.
 * Time inside the query calls is the round trip: slonik's Node work, the wire and Postgres; the rest
 * of a batch's time is the projection's own JavaScript (the fold, building the JSON it sends).
 */
import { performance } from 'node:perf_hooks';
import type { DatabasePool, DatabaseTransactionConnection } from 'slonik';
import type { EventStore } from '../../../src/eventstore/eventStore.ts';
import {
  createProjectionTables,
  type Projection,
  type ProjectionContext,
} from '../../../src/projection/projection.ts';
import { tableIdentifiers } from '../../../src/projection/projectionRunner.ts';

export type StatementProfile = { statement: string; calls: number; ms: number };
export type Profile = { events: number; batches: number; ms: number; statements: StatementProfile[] };

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

const suffix = '__profile';

/** "INSERT rm.messages", "SELECT rm.contacts", …: the verb and the first of the profiled tables named. */
function statementName(text: string): string {
  const verb = /\b(SELECT|INSERT|UPDATE|DELETE)\b/i.exec(text)?.[1]?.toUpperCase() ?? 'OTHER';
  const table = new RegExp(`"(\\w+)"\\."(\\w+)${suffix}"`).exec(text);
  return table ? `${verb} ${table[1]}.${table[2]}` : verb;
}

/** Applies the first `sample` events `projection` handles in pages of `batch`, timing each statement. */
export async function profileProjection(
  deps: { store: EventStore; pool: DatabasePool },
  projection: Projection,
  sample: number,
  batch: number,
): Promise<Profile> {
  const names = Object.fromEntries(
    Object.entries(projection.tables).map(([logical, qualified]) => [logical, `${qualified}${suffix}`]),
  );
  const tables = tableIdentifiers(names);
  const context: ProjectionContext = { tables, publish: null };
  await deps.pool.transaction((tx) => createProjectionTables(tx, projection, tables));
  const statements = new Map<string, StatementProfile>();
  const timed = (tx: DatabaseTransactionConnection): DatabaseTransactionConnection =>
    new Proxy(tx, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (typeof value !== 'function') return value;
        if (!queryMethods.has(String(property))) return value.bind(target);
        return async (...args: unknown[]) => {
          const name = statementName((args[0] as { sql?: string }).sql ?? '');
          const started = performance.now();
          try {
            return await value.apply(target, args);
          } finally {
            const row = statements.get(name) ?? { statement: name, calls: 0, ms: 0 };
            row.calls += 1;
            row.ms += performance.now() - started;
            statements.set(name, row);
          }
        };
      },
    });
  const profile: Profile = { events: 0, batches: 0, ms: 0, statements: [] };
  let after: bigint | undefined;
  while (profile.events < sample) {
    const page = await deps.store.readAll({
      ...(after === undefined ? {} : { after }),
      filter: { eventTypes: projection.eventTypes },
      maxCount: Math.min(batch, sample - profile.events),
    });
    if (page.length === 0) break;
    const started = performance.now();
    await deps.pool.transaction((tx) => projection.applyBatch(timed(tx), page, context));
    profile.ms += performance.now() - started;
    profile.batches += 1;
    profile.events += page.length;
    after = page.at(-1)?.position;
  }
  profile.statements = [...statements.values()].sort((a, b) => b.ms - a.ms);
  return profile;
}
