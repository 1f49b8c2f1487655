import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { type DatabasePool, sql } from 'slonik';

export type EventStoreMetrics = {
  appends: Counter<'outcome'>;
  eventsAppended: Counter;
  batchSize: Histogram;
  batchSeconds: Histogram;
};

/**
 * What an operator needs to see of the Postgres event store: outcomes, group-commit batch sizes
 * and times, and the age of the oldest transaction in the cluster — the one that holds every
 * `$all` subscriber back (see postgresEventStore.ts).
 */
export function createEventStoreMetrics(registry: Registry, pool: DatabasePool): EventStoreMetrics {
  new Gauge({
    name: 'eventstore_oldest_transaction_seconds',
    help: 'Age of the oldest running transaction of this database holding a transaction id; $all readers wait for it',
    registers: [registry],
    async collect() {
      const age = await pool.oneFirst(sql.unsafe`
        SELECT coalesce(extract(epoch FROM max(clock_timestamp() - xact_start)), 0)::float8
          FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND datname = current_database()`);
      this.set(age as number);
    },
  });
  return {
    appends: new Counter({
      name: 'eventstore_appends_total',
      help: 'Appends by outcome: ok, duplicate (a retried append), wrong_expected_revision, duplicate_id',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    eventsAppended: new Counter({
      name: 'eventstore_events_appended_total',
      help: 'Events written (retried appends not counted)',
      registers: [registry],
    }),
    batchSize: new Histogram({
      name: 'eventstore_append_batch_size',
      help: 'Appends written in one transaction (group commit)',
      buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000],
      registers: [registry],
    }),
    batchSeconds: new Histogram({
      name: 'eventstore_append_batch_seconds',
      help: 'Time to write one group-commit batch, round trip included',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
  };
}
