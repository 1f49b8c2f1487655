/**
 * The composition root: the one place where the pieces are built and wired together.
 * Start-up order: configuration → database (embedded when DATABASE_URL is unset) → migrations →
 * pool → event store → HTTP server. Shutdown runs it backwards after draining requests.
 */
import { sql } from 'slonik';
import { ConfigError, loadConfig } from './config/config.ts';
import { migrate, migrationsApplied } from './db/migrate.ts';
import { openDatabase } from './db/openDatabase.ts';
import { createDatabasePool } from './db/pool.ts';
import { openEventStore } from './eventstore/openEventStore.ts';
import { createHttpServer } from './http/httpServer.ts';
import { createLogger } from './log/logger.ts';
import { createMetrics } from './observability/metrics.ts';
import { SchemaRegistry } from './schemas/schemaRegistry.ts';

let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(`pytake: configuration error: ${error.message}`);
  process.exit(1);
}

const logger = createLogger(config.LOG_LEVEL);
process.on('uncaughtException', (error) => {
  logger.fatal({ err: error }, 'uncaught exception; exiting');
  process.exit(1);
});
process.on('unhandledRejection', (reason) => {
  logger.fatal({ err: reason }, 'unhandled rejection; exiting');
  process.exit(1);
});

const database = await openDatabase(config, logger);
await migrate(database.url, logger);
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

const http = createHttpServer({
  config,
  logger,
  registry,
  metrics,
  routes: [],
  readinessChecks: {
    database: {
      check: async () => {
        await pool.query(sql.unsafe`SELECT 1`);
        return { ok: true };
      },
    },
    migrations: {
      check: async () =>
        (await migrationsApplied(pool)) ? { ok: true } : { ok: false, detail: 'migrations pending' },
    },
  },
});

const port = await http.listen();
logger.info(
  { port, host: config.HOST, database: database.embedded ? 'embedded' : 'external' },
  `PyTake listening on http://${config.HOST === '0.0.0.0' ? 'localhost' : config.HOST}:${port}`,
);

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) {
    logger.warn({ signal }, 'second signal: exiting now');
    process.exit(1);
  }
  stopping = true;
  logger.info({ signal }, 'shutting down: draining requests');
  try {
    await http.close();
    await eventStore.close();
    await pool.end();
    await database.close();
    logger.info('stopped');
    process.exit(0);
  } catch (error) {
    logger.error({ err: error }, 'shutdown failed');
    process.exit(1);
  }
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
