import type { Registry } from 'prom-client';
import type { Config } from '../config/config.ts';
import type { DatabasePool } from '../db/pool.ts';
import type { Logger } from '../log/logger.ts';
import type { SchemaRegistry } from '../schemas/schemaRegistry.ts';
import { createEsdbEventStore } from './esdbEventStore.ts';
import type { EventStore } from './eventStore.ts';
import { PostgresEventStore } from './postgresEventStore.ts';

/** EventStoreDB when EVENTSTORE_URL is set; otherwise the Postgres event store. */
export async function openEventStore(
  config: Config,
  deps: {
    pool: DatabasePool;
    databaseUrl: string;
    registry: SchemaRegistry;
    logger: Logger;
    metricsRegistry?: Registry;
  },
): Promise<EventStore> {
  if (config.EVENTSTORE_URL) {
    deps.logger.info('event store: EventStoreDB');
    return createEsdbEventStore({ url: config.EVENTSTORE_URL, registry: deps.registry });
  }
  return PostgresEventStore.open({ ...deps, groupCommitMax: config.EVENTSTORE_GROUP_COMMIT_MAX });
}
