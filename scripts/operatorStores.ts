import type { DatabasePool } from 'slonik';
import { loadConfig } from '../src/config/config.ts';
import { migrate } from '../src/db/migrate.ts';
import { openDatabase } from '../src/db/openDatabase.ts';
import { createDatabasePool } from '../src/db/pool.ts';
import type { EventStore } from '../src/eventstore/eventStore.ts';
import { openEventStore } from '../src/eventstore/openEventStore.ts';
import { createLogger, type Logger } from '../src/log/logger.ts';
import { SchemaRegistry } from '../src/schemas/schemaRegistry.ts';

export type OperatorStores = {
  pool: DatabasePool;
  store: EventStore;
  registry: SchemaRegistry;
  logger: Logger;
  close(): Promise<void>;
};

/**
 * What an operator script works on: the configured database (the running server's embedded one
 * when there is one), migrated unless the script only reads, and its event store.
 */
export async function openOperatorStores(options: {
  migrate: boolean;
  poolSize: number;
}): Promise<OperatorStores> {
  const config = loadConfig();
  const logger = createLogger('warn');
  const registry = new SchemaRegistry();
  const database = await openDatabase(config, logger, { shareRunning: true });
  if (options.migrate) await migrate(database.url, logger);
  const pool = await createDatabasePool(database.url, options.poolSize);
  const store = await openEventStore(config, { pool, databaseUrl: database.url, registry, logger });
  return {
    pool,
    store,
    registry,
    logger,
    async close() {
      await store.close();
      await pool.end();
      await database.close();
    },
  };
}
