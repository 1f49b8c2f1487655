import { type DatabaseTransactionConnection, type IdentifierSqlToken, sql } from 'slonik';

export type SqlFragment = ReturnType<typeof sql.fragment>;

/**
 * Eight partitions. A partition bound takes integer constants only (no parameter, no quoted literal)
 * and slonik binds numbers as parameters: hence one fixed fragment per remainder.
 */
const remainders = [
  sql.fragment`0`,
  sql.fragment`1`,
  sql.fragment`2`,
  sql.fragment`3`,
  sql.fragment`4`,
  sql.fragment`5`,
  sql.fragment`6`,
  sql.fragment`7`,
];

/**
 * Creates a read-model table the way every tenant table is made (as migration 0003 first did):
 * hash-partitioned by organization_id into eight partitions named `<table>_p<n>`, row-level security
 * so that a session without `app.organization_id` sees nothing, and SELECT for the application role.
 * `columns` is the column and constraint list; it must lead with `organization_id uuid NOT NULL` and
 * its primary key must include organization_id.
 */
export async function createTenantTable(
  tx: DatabaseTransactionConnection,
  table: IdentifierSqlToken,
  columns: SqlFragment,
): Promise<void> {
  await tx.query(sql.unsafe`CREATE TABLE ${table} (${columns}) PARTITION BY HASH (organization_id)`);
  const [schema, name] = table.names;
  if (schema === undefined || name === undefined) throw new Error('tenant tables are named schema.table');
  for (const [remainder, bound] of remainders.entries()) {
    await tx.query(sql.unsafe`
      CREATE TABLE ${sql.identifier([schema, `${name}_p${remainder}`])} PARTITION OF ${table}
      FOR VALUES WITH (MODULUS 8, REMAINDER ${bound})`);
  }
  await tx.query(sql.unsafe`ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY`);
  await tx.query(sql.unsafe`
    CREATE POLICY tenant_isolation ON ${table} USING (organization_id = rm.current_organization())`);
  await tx.query(sql.unsafe`GRANT SELECT ON ${table} TO pytake_app`);
}
