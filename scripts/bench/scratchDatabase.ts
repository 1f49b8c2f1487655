/**
 * A throwaway database for a benchmark, `pytake_bench_<tag>_<random>` on BENCH_DATABASE_URL (else
 * PYTAKE_TEST_ADMIN_URL, else postgres://postgres@127.0.0.1:5432/postgres), migrated, with an
 * admin connection of its own. `drop` removes that database and no other.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrate } from '../../src/db/migrate.ts';
import type { Logger } from '../../src/log/logger.ts';

const { BENCH_DATABASE_URL, PYTAKE_TEST_ADMIN_URL } = process.env;
export const adminUrl =
  BENCH_DATABASE_URL ?? PYTAKE_TEST_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export type ScratchDatabase = {
  name: string;
  url: string;
  /** A connection to the scratch database, for bookkeeping. */
  admin: pg.Client;
  drop(): Promise<void>;
};

export async function createScratchDatabase(
  tag: string,
  logger: Logger,
  log: (message: string) => void,
): Promise<ScratchDatabase> {
  const name = `pytake_bench_${tag}_${randomBytes(4).toString('hex')}`;
  const server = new pg.Client({ connectionString: adminUrl, application_name: 'pytake-bench' });
  await server.connect();
  const url = Object.assign(new URL(adminUrl), { pathname: `/${name}` }).toString();
  const admin = new pg.Client({ connectionString: url, application_name: 'pytake-bench' });
  let dropped = false;
  const drop = async () => {
    if (dropped) return;
    dropped = true;
    await admin.end().catch(() => undefined);
    await server.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`); // only ours
    await server.end();
    log(`dropped ${name}`);
  };
  try {
    await server.query(`CREATE DATABASE "${name}"`);
    log(`bench database ${name}`);
    await admin.connect();
    await migrate(url, logger);
  } catch (error) {
    await drop();
    throw error;
  }
  return { name, url, admin, drop };
}

/** Postgres's version and the durability settings every report names. */
export async function postgresSettings(
  admin: pg.Client,
  names = 'synchronous_commit fsync wal_sync_method shared_buffers work_mem',
): Promise<{ version: string; settings: string }> {
  const { rows } = await admin.query(
    `SELECT split_part(version(), ' on ', 1) AS version,
            string_agg(name || '=' || current_setting(name), ', ') AS settings
       FROM unnest(string_to_array($1, ' ')) AS name`,
    [names],
  );
  return rows[0];
}

/**
 * Transactions so far in each of the cluster's other databases (a test run sharing this Postgres),
 * to flag a measure that shared the machine.
 */
export async function otherDatabaseTransactions(admin: pg.Client): Promise<Map<string, number>> {
  const { rows } = await admin.query(`SELECT datid::text AS id, xact_commit + xact_rollback AS n
    FROM pg_stat_database WHERE datname IS DISTINCT FROM current_database()`);
  return new Map(rows.map((row) => [row.id as string, Number(row.n)]));
}

/** Transactions the other databases ran since `before`. */
export async function otherTransactionsSince(admin: pg.Client, before: Map<string, number>): Promise<number> {
  let count = 0;
  for (const [id, n] of await otherDatabaseTransactions(admin)) count += n - (before.get(id) ?? 0);
  return count;
}
