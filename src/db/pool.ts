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
    typeParsers: [
      ...createTypeParserPreset().filter((parser) => parser.name !== 'int8' && parser.name !== 'timestamptz'),
      createBigintTypeParser(),
      { name: 'timestamptz', parse: (value: string) => new Date(value) },
    ],
  });
}

/**
 * Runs `handler` in a transaction that sees only `organizationId`'s rows: row-level security on the
 * read models compares against this setting, which lasts until the transaction ends.
 */
export async function asTenant<T>(
  pool: DatabasePool,
  organizationId: string,
  handler: (tx: DatabaseTransactionConnection) => Promise<T>,
): Promise<T> {
  return pool.transaction(async (tx) => {
    await tx.query(sql.unsafe`SELECT set_config('app.organization_id', ${organizationId}, true)`);
    return handler(tx);
  });
}
