import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Registry } from 'prom-client';
import { migrate } from '../../src/db/migrate.ts';
import { createDatabasePool, type DatabasePool } from '../../src/db/pool.ts';
import { PostgresEventStore } from '../../src/eventstore/postgresEventStore.ts';
import { createLogger } from '../../src/log/logger.ts';
import { SchemaRegistry, schemasDir } from '../../src/schemas/schemaRegistry.ts';

/** Set by scripts/test.ts: the machine's Postgres when reachable, else an embedded one. */
export const adminUrl = process.env.PYTAKE_TEST_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export const testLogger = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');

/** The app's schemas plus the test-only event types (ThingHappened, OtherThingHappened). */
export const testRegistry = () =>
  new SchemaRegistry([schemasDir, fileURLToPath(new URL('../fixtures/schemas/', import.meta.url))]);

export type TestDatabase = { name: string; url: string; drop(): Promise<void> };

/** A fresh database for one test file; `drop()` removes it (and only it). */
export async function createTestDatabase(label: string): Promise<TestDatabase> {
  const name = `pytake_test_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
  await adminQuery(`CREATE DATABASE "${name}"`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    drop: () => adminQuery(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`),
  };
}

/** A migrated database with a pool and a Postgres event store over it. */
export async function openTestEventStore(
  label: string,
  options: {
    groupCommitMax?: number;
    maxBatchesInFlight?: number;
    poolSize?: number;
    metricsRegistry?: Registry;
  } = {},
): Promise<{ db: TestDatabase; pool: DatabasePool; store: PostgresEventStore; close(): Promise<void> }> {
  const db = await createTestDatabase(label);
  const pool = await createDatabasePool(db.url, options.poolSize ?? 10);
  await migrate(db.url, testLogger);
  const store = await PostgresEventStore.open({
    pool,
    databaseUrl: db.url,
    registry: testRegistry(),
    logger: testLogger,
    groupCommitMax: options.groupCommitMax,
    maxBatchesInFlight: options.maxBatchesInFlight,
    metricsRegistry: options.metricsRegistry,
  });
  return {
    db,
    pool,
    store,
    async close() {
      await store.close();
      await pool.end();
      await db.drop();
    },
  };
}

async function adminQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}
