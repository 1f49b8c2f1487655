/**
 * `npm run migrate`: applies pending migrations to DATABASE_URL (or the embedded Postgres under
 * DATA_DIR) and exits. The server does the same at start-up; this is for deploy pipelines.
 */
import { loadConfig } from '../src/config/config.ts';
import { migrate } from '../src/db/migrate.ts';
import { openDatabase } from '../src/db/openDatabase.ts';
import { createLogger } from '../src/log/logger.ts';

const config = loadConfig();
const logger = createLogger(config.LOG_LEVEL);
const database = await openDatabase(config, logger, { shareRunning: true });
try {
  const applied = await migrate(database.url, logger);
  logger.info({ applied }, 'migrations up to date');
} finally {
  await database.close();
}
