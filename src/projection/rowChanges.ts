import { type DatabaseTransactionConnection, type IdentifierSqlToken, sql } from 'slonik';
import { jsonb } from '../db/jsonb.ts';
import { uuidPattern } from '../lang/uuid.ts';
import type { SqlFragment } from './tenantTable.ts';

type Columns = Record<string, unknown>;

/** A row's key columns as one string; a uuid in either case names the same row, as in Postgres. */
export const rowKey = (...values: readonly unknown[]): string =>
  JSON.stringify(
    values.map((value) =>
      typeof value === 'string' && uuidPattern.test(value) ? value.toLowerCase() : String(value),
    ),
  );

/**
 * A relation of `rows` rows, sized for the planner: a set-returning function counts for 100 rows, for
 * which it would rather scan a whole table than probe the table's key once per row.
 */
const sized = (relation: SqlFragment, rows: number) =>
  sql.fragment`(SELECT * FROM ${relation} LIMIT ${rows})`;

/** JSON objects as a relation of these typed columns (`organization_id uuid, …`), to join by key. */
export const recordset = (rows: readonly object[], columns: SqlFragment) =>
  sized(sql.fragment`jsonb_to_recordset(${jsonb(rows)}) AS r(${columns})`, rows.length);

/**
 * `<alias>.organization_id = ANY(…)` of the rows' organizations. A tenant table is partitioned by
 * organization; joined to a relation of keys, it is planned over all eight partitions, but over only
 * those this constant names.
 */
export const inOrganizationsOf = (alias: string, rows: readonly { organization_id?: unknown }[]) =>
  sql.fragment`${sql.identifier([alias, 'organization_id'])} = ANY(${sql.array(
    [...new Set(rows.map((row) => String(row.organization_id)))],
    'uuid',
  )})`;

type Entry<Row> = {
  key: Partial<Row>;
  /** The batch deletes the row (before anything it creates again). */
  deleted: boolean;
  /** The first create since the last delete, with every set since. */
  created: Row | undefined;
  /** Every set: a row that stood before the batch takes them (unless the batch deletes it). */
  sets: Partial<Row> | undefined;
};

/**
 * What a batch does to one table whose events insert a row unless its key is taken (ON CONFLICT DO
 * NOTHING), set some columns of the row under a key if there is one, or delete it: folded in memory
 * per key, in event order, then written in at most three statements (delete, insert, update). Rows are
 * JSON objects of the table's columns, expanded by the table's own row type.
 *
 * Whether a row stood before the batch is never read: the insert tells (RETURNING). A row the insert
 * made took only the sets after its create (those before fell on no row) and holds them already; a row
 * that stood, and that the batch does not delete, takes every set.
 */
export class RowChanges<Row extends Columns> {
  private readonly entries = new Map<string, Entry<Row>>();

  constructor(private readonly keyColumns: readonly (keyof Row & string)[]) {}

  create(row: Row): void {
    const entry = this.entry(row);
    entry.created ??= row;
  }

  /** Sets these columns of the row under `key`, if there is one; an undefined value sets nothing. */
  set(key: Partial<Row>, columns: Partial<Row>): void {
    const defined = Object.fromEntries(
      Object.entries(columns).filter(([, value]) => value !== undefined),
    ) as Partial<Row>;
    const entry = this.entry(key);
    entry.sets = { ...entry.sets, ...defined };
    if (entry.created) entry.created = { ...entry.created, ...defined };
  }

  delete(key: Partial<Row>): void {
    const entry = this.entry(key);
    entry.deleted = true;
    entry.created = undefined;
  }

  async write(tx: DatabaseTransactionConnection, table: IdentifierSqlToken): Promise<void> {
    const entries = [...this.entries.values()];
    const column = (name: string) => sql.identifier([name]);
    const sameKey = (rows: readonly Partial<Row>[]) =>
      sql.join(
        [
          ...this.keyColumns.map((name) => sql.fragment`t.${column(name)} = x.${column(name)}`),
          ...(this.keyColumns.includes('organization_id') ? [inOrganizationsOf('t', rows)] : []),
        ],
        sql.fragment` AND `,
      );
    const deleted = entries.filter((entry) => entry.deleted).map((entry) => entry.key);
    if (deleted.length > 0) {
      await tx.query(sql.unsafe`
        DELETE FROM ${table} AS t
         USING ${sized(sql.fragment`jsonb_populate_recordset(NULL::${table}, ${jsonb(deleted)})`, deleted.length)} AS x
         WHERE ${sameKey(deleted)}`);
    }
    const created = entries.flatMap((entry) => (entry.created ? [entry.created] : []));
    const inserted = new Set<string>();
    if (created.length > 0) {
      const rows = await tx.any(sql.unsafe`
        INSERT INTO ${table} SELECT * FROM jsonb_populate_recordset(NULL::${table}, ${jsonb(created)})
        ON CONFLICT DO NOTHING
        RETURNING ${sql.join(this.keyColumns.map(column), sql.fragment`, `)}`);
      for (const row of rows) inserted.add(this.keyOf(row as Partial<Row>));
    }
    const updates = entries.filter(
      (entry) =>
        !entry.deleted && Object.keys(entry.sets ?? {}).length > 0 && !inserted.has(this.keyOf(entry.key)),
    );
    if (updates.length === 0) return;
    const setColumns = [...new Set(updates.flatMap((entry) => Object.keys(entry.sets ?? {})))];
    // Each update sets only the columns it names.
    const assignments = setColumns.map(
      (name) =>
        sql.fragment`${column(name)} = CASE WHEN x.entry ? ${name} THEN x.${column(name)} ELSE t.${column(name)} END`,
    );
    const values = jsonb(updates.map((entry) => ({ ...entry.sets, ...entry.key })));
    const source = sql.fragment`
      jsonb_array_elements(${values}) AS e(entry), jsonb_populate_record(NULL::${table}, e.entry) AS p`;
    await tx.query(sql.unsafe`
      UPDATE ${table} AS t SET ${sql.join(assignments, sql.fragment`, `)}
        FROM ${sized(source, updates.length)} AS x
       WHERE ${sameKey(updates.map((entry) => entry.key))}`);
  }

  private keyOf(row: Partial<Row>): string {
    return rowKey(...this.keyColumns.map((name) => row[name]));
  }

  private entry(row: Partial<Row>): Entry<Row> {
    const key = this.keyOf(row);
    let entry = this.entries.get(key);
    if (!entry) {
      const keyColumns = Object.fromEntries(this.keyColumns.map((name) => [name, row[name]])) as Partial<Row>;
      entry = { key: keyColumns, deleted: false, created: undefined, sets: undefined };
      this.entries.set(key, entry);
    }
    return entry;
  }
}
