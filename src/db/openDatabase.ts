import type { Config } from '../config/config.ts';
import type { Logger } from '../log/logger.ts';
import { startEmbeddedPostgres } from './embeddedPostgres.ts';

export type Database = { url: string; embedded: boolean; close(): Promise<void> };

/**
 * DATABASE_URL when set; otherwise the embedded Postgres under DATA_DIR, started on demand. An
 * operator script (`shareRunning`) uses the embedded server of a PyTake already running there.
 */
export async function openDatabase(
  config: Config,
  logger: Logger,
  options: { shareRunning?: boolean } = {},
): Promise<Database> {
  if (config.DATABASE_URL) {
    return { url: config.DATABASE_URL, embedded: false, close: async () => undefined };
  }
  const embedded = await startEmbeddedPostgres(config.DATA_DIR, 'pytake', logger, options);
  return { url: embedded.url, embedded: true, close: () => embedded.stop() };
}
