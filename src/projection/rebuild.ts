import { type DatabasePool, type DatabaseTransactionConnection, sql } from 'slonik';
import type { EventStore, RecordedEvent } from '../eventstore/eventStore.ts';
import type { Projection, ProjectionContext } from './projection.ts';
import { tableIdentifiers } from './projectionRunner.ts';

export type RebuildResult = {
  projection: string;
  version: number;
  events: number;
  seconds: number;
  /** The tables that served until the swap, kept under these names (nothing is dropped). */
  retired: string[];
};

export type RebuildOptions = {
  /** Events read per page while catching up. */
  batchSize?: number;
  /** Transactions applying one page at once while catching up, each its organizations' events. */
  lanes?: number;
  onProgress?(events: number): void;
};

/**
 * A page's events split into `lanes` runs, each every event of some organizations, in order. A
 * projection's rows belong to one organization each (Projection), so the runs can be applied at
 * once, in transactions of their own, with the result of applying the page in one.
 */
export function byOrganizationLane(page: readonly RecordedEvent[], lanes: number): RecordedEvent[][] {
  const runs: RecordedEvent[][] = Array.from({ length: lanes }, () => []);
  for (const event of page) {
    const lane = Number.parseInt(event.metadata.organizationId.slice(0, 8), 16) % lanes;
    runs[Number.isNaN(lane) ? 0 : lane]?.push(event);
  }
  return runs.filter((run) => run.length > 0);
}

/**
 * Rebuilds a projection from the event store into new tables while the live ones keep serving, then
 * swaps them in one transaction:
 * 1. create the projection's tables under new names (`<table>__r<stamp>`) and apply every event;
 * 2. lock the live checkpoint row (live runners wait at their next batch), apply the events that
 *    arrived meanwhile, rename each live table to `<table>__retired_<stamp>` and the new one to the
 *    live name, and set the checkpoint to the rebuild's position and this code's version.
 * Runners of the same version go on from there on the new tables; runners of an older version stop
 * (their checkpoint names another version). The retired tables keep their rows until an operator
 * removes them.
 */
export async function rebuildProjection(
  deps: { store: EventStore; pool: DatabasePool },
  projection: Projection,
  options: RebuildOptions = {},
): Promise<RebuildResult> {
  const started = performance.now();
  // To the millisecond: two rebuilds of a small projection can finish within one second.
  const stamp = new Date().toISOString().replace(/\D/g, '').slice(0, 17);
  const buildNames = renamed(projection.tables, (table) => `${table}__r${stamp}`);
  const build = tableIdentifiers(buildNames);
  const context: ProjectionContext = { tables: build, publish: null };
  const filter = { eventTypes: projection.eventTypes };
  const batchSize = options.batchSize ?? 1000;
  const lanes = options.lanes ?? 2;
  let position = 0n;
  let events = 0;

  const readPage = (after: bigint) =>
    deps.store.readAll({ ...(after > 0n ? { after } : {}), filter, maxCount: batchSize });
  /** Applies a page of events (in `tx`, or in a transaction per lane) and moves past it. */
  const applyPage = async (page: RecordedEvent[], tx: DatabaseTransactionConnection | null) => {
    if (tx) await projection.applyBatch(tx, page, context);
    else {
      await Promise.all(
        byOrganizationLane(page, lanes).map((run) =>
          deps.pool.transaction((connection) => projection.applyBatch(connection, run, context)),
        ),
      );
    }
    position = page.at(-1)?.position ?? position;
    events += page.length;
    options.onProgress?.(events);
  };

  await deps.pool.transaction((tx) => projection.createTables(tx, build));
  // Catch up outside the swap until a page is short or reaches what was appended after the rebuild
  // began: writers may append faster than a rebuild applies, and the swap takes the rest. The next
  // page is read while this one is applied in lanes (the pool has a connection for each).
  const begun = new Date();
  let next = readPage(position);
  for (;;) {
    const page = await next;
    const last = page.at(-1);
    if (!last) break;
    const more = page.length === batchSize && last.recordedAt < begun;
    if (more) {
      next = readPage(last.position);
      next.catch(() => undefined); // a failed read is thrown where it is awaited, after this page
    }
    await applyPage(page, null);
    if (!more) break;
  }

  // Indexed once filled: building an index costs less than keeping it up to date on every write.
  await deps.pool.transaction(async (tx) => {
    await projection.createIndexes?.(tx, build);
  });

  // The swap's transaction is begun by hand: the event store reads through the same pool while it is
  // open, which slonik forbids inside `pool.transaction`.
  const retired = await inTransaction(deps.pool, async (tx) => {
    await tx.query(
      sql.unsafe`SELECT 1 FROM projection.checkpoints WHERE name = ${projection.name} FOR UPDATE`,
    );
    // Live runners wait now. Whatever they applied was readable before, and what is readable only grows,
    // so reading until the store has nothing more passes their checkpoint.
    for (let page = await readPage(position); page.length > 0; page = await readPage(position)) {
      await applyPage(page, tx);
    }
    const retiredNames: string[] = [];
    for (const [logical, liveName] of Object.entries(projection.tables)) {
      const [schema, table] = liveName.split('.') as [string, string];
      const buildName = buildNames[logical] as string;
      const exists = await tx.oneFirst(sql.unsafe`SELECT to_regclass(${liveName}) IS NOT NULL`);
      if (exists) {
        const retiredName = `${table}__retired_${stamp}`;
        await tx.query(
          sql.unsafe`ALTER TABLE ${sql.identifier([schema, table])} RENAME TO ${sql.identifier([retiredName])}`,
        );
        retiredNames.push(`${schema}.${retiredName}`);
      }
      await tx.query(
        sql.unsafe`ALTER TABLE ${sql.identifier(buildName.split('.'))} RENAME TO ${sql.identifier([table])}`,
      );
    }
    await tx.query(sql.unsafe`
      INSERT INTO projection.checkpoints (name, version, position)
      VALUES (${projection.name}, ${projection.version}, ${String(position)})
      ON CONFLICT (name) DO UPDATE SET version = excluded.version, position = excluded.position, updated_at = now()`);
    return retiredNames;
  });

  return {
    projection: projection.name,
    version: projection.version,
    events,
    seconds: (performance.now() - started) / 1000,
    retired,
  };
}

async function inTransaction<T>(
  pool: DatabasePool,
  work: (tx: DatabaseTransactionConnection) => Promise<T>,
): Promise<T> {
  return pool.connect(async (connection) => {
    await connection.query(sql.unsafe`BEGIN`);
    try {
      const result = await work(connection as unknown as DatabaseTransactionConnection);
      await connection.query(sql.unsafe`COMMIT`);
      return result;
    } catch (error) {
      await connection.query(sql.unsafe`ROLLBACK`);
      throw error;
    }
  });
}

function renamed(
  tables: Readonly<Record<string, string>>,
  rename: (table: string) => string,
): Record<string, string> {
  return Object.fromEntries(
    Object.entries(tables).map(([logical, qualified]) => {
      const [schema, table] = qualified.split('.') as [string, string];
      return [logical, `${schema}.${rename(table)}`];
    }),
  );
}
