import type { Config } from '../config/config.ts';
import type { Logger } from '../log/logger.ts';
import { startEmbeddedPostgres } from './embeddedPostgres.ts';

export type Database = { url: string; embedded: boolean; close(): Promise<void> };

/** DATABASE_URL when set; otherwise the embedded Postgres under DATA_DIR, started on demand. */
export async function openDatabase(config: Config, logger: Logger): Promise<Database> {
  if (config.DATABASE_URL) {
    return { url: config.DATABASE_URL, embedded: false, close: async () => undefined };
  }
  const embedded = await startEmbeddedPostgres(config.DATA_DIR, 'pytake', logger);
  return { url: embedded.url, embedded: true, close: () => embedded.stop() };
}
