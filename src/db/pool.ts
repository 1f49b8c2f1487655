import {
  createBigintTypeParser,
  createPool,
  createTypeParserPreset,
  type DatabasePool,
  type DatabaseTransactionConnection,
  sql,
} from 'slonik';

export type { DatabasePool, DatabaseTransactionConnection };

/**
 * The slonik pool every store uses. int8 comes back as bigint (event positions exceed 2^53) and
 * timestamptz as Date, so no value silently loses precision.
 */
export async function createDatabasePool(url: string, maximumPoolSize: number): Promise<DatabasePool> {
  return createPool(url, {
    maximumPoolSize,
    // Short transactions are a rule here (a long one holds every event subscriber back): a stuck
    // transaction is ended by the server rather than left to block the store.
    idleInTransactionSessionTimeout: 60_000,
    statementTimeout: 60_000,
    captureStackTrace: false,
    // slonik's default runs DISCARD ALL after every query: a round trip each time, and it throws away
    // the server's cached plans. Nothing here leaves session state behind (tenant and role settings
    // are transaction-local), so there is nothing to reset. (Leaving it undefined breaks slonik 47.3.)
    resetConnection: async () => undefined,
    typeParsers: [
      ...createTypeParserPreset().filter((parser) => parser.name !== 'int8' && parser.name !== 'timestamptz'),
      createBigintTypeParser(),
      { name: 'timestamptz', parse: (value: string) => new Date(value) },
    ],
  });
}

/**
 * Runs `handler` in a transaction that sees only `organizationId`'s rows: it runs as the
 * non-superuser role pytake_app, which row-level security applies to (owners and superusers bypass
 * it), with the tenant setting that the policies compare against. Both last until the transaction ends.
 */
export async function asTenant<T>(
  pool: DatabasePool,
  organizationId: string,
  handler: (tx: DatabaseTransactionConnection) => Promise<T>,
): Promise<T> {
  return pool.transaction(async (tx) => {
    // set_config('role', …, true) is SET LOCAL ROLE; one round trip sets both.
    await tx.query(
      sql.unsafe`SELECT set_config('role', 'pytake_app', true), set_config('app.organization_id', ${organizationId}, true)`,
    );
    return handler(tx);
  });
}
