/**
 * The composition root: the one place where the pieces are built and wired together.
 * Start-up order: database (embedded when DATABASE_URL is unset) → migrations → pool → event store
 * → projections → identity → HTTP server. `close` runs it backwards after draining requests.
 */
import { sql } from 'slonik';
import { identityProjection } from '../projections/identity.ts';
import type { Config } from './config/config.ts';
import { loadMigrations, migrate, migrationsApplied } from './db/migrate.ts';
import { openDatabase } from './db/openDatabase.ts';
import { createDatabasePool } from './db/pool.ts';
import { openEventStore } from './eventstore/openEventStore.ts';
import { createHttpServer } from './http/httpServer.ts';
import { createIdentity } from './identity/identity.ts';
import type { Logger } from './log/logger.ts';
import { createMetrics } from './observability/metrics.ts';
import { ProjectionRunner } from './projection/projectionRunner.ts';
import { SchemaRegistry } from './schemas/schemaRegistry.ts';

export type App = { port: number; embeddedDatabase: boolean; close(): Promise<void> };

export async function startApp(config: Config, logger: Logger): Promise<App> {
  const database = await openDatabase(config, logger);
  await migrate(database.url, logger);
  const knownMigrations = loadMigrations().length;
  const pool = await createDatabasePool(database.url, config.DATABASE_POOL_SIZE);
  const registry = new SchemaRegistry();
  const metrics = createMetrics();
  const eventStore = await openEventStore(config, {
    pool,
    databaseUrl: database.url,
    registry,
    logger,
    metricsRegistry: metrics.registry,
  });
  const projections = new ProjectionRunner(eventStore, pool, [identityProjection], logger);
  await projections.start();
  const identity = await createIdentity(config, logger, { store: eventStore, pool, projections });

  const http = createHttpServer({
    config,
    logger,
    registry,
    metrics,
    routes: identity.routes,
    readinessChecks: {
      database: {
        check: async () => {
          await pool.query(sql.unsafe`SELECT 1`);
          return { ok: true };
        },
      },
      projections: { check: async () => projections.health() },
      migrations: {
        check: async () =>
          (await migrationsApplied(pool, knownMigrations))
            ? { ok: true }
            : { ok: false, detail: 'migrations pending' },
      },
    },
  });
  const port = await http.listen();

  return {
    port,
    embeddedDatabase: database.embedded,
    async close() {
      await http.close();
      await projections.stop();
      await eventStore.close();
      await pool.end();
      await database.close();
    },
  };
}
