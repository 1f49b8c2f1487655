import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { type DatabasePool, sql } from 'slonik';
import type { Logger } from '../log/logger.ts';

export const migrationsDir = fileURLToPath(new URL('./migrations/', import.meta.url));

// Any constant works; it only has to be the same for every node starting against one database.
const migrationLockKey = 7_320_451;

/** Statements that destroy data. Migrations are forward-only and additive: these are refused. */
const destructive = /\b(drop\s+(table|schema|database|column)|truncate)\b/i;

export type Migration = { version: number; name: string; sql: string; checksum: string };

export function loadMigrations(directory = migrationsDir): Migration[] {
  return readdirSync(directory)
    .filter((file) => file.endsWith('.sql'))
    .sort()
    .map((file) => {
      const match = /^(\d{4})_[a-z0-9_]+\.sql$/.exec(file);
      if (!match?.[1]) throw new Error(`migration ${file}: name must be NNNN_snake_case.sql`);
      const text = readFileSync(join(directory, file), 'utf8');
      if (destructive.test(text))
        throw new Error(`migration ${file}: destroys data (DROP/TRUNCATE), refused`);
      return { version: Number(match[1]), name: file, sql: text, checksum: sha256(text) };
    });
}

/**
 * Applies pending migrations, each in its own transaction, under an advisory lock so two nodes
 * starting at once apply each migration exactly once. Stops start-up when an applied migration
 * was edited since, or when the database knows a migration this code does not. Runs on its own
 * pg connection: a migration file holds several statements, which slonik refuses.
 */
export async function migrate(
  databaseUrl: string,
  logger: Logger,
  directory = migrationsDir,
): Promise<number> {
  const migrations = loadMigrations(directory);
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'pytake-migrate' });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [migrationLockKey]);
    await client.query(`
      CREATE TABLE IF NOT EXISTS public.schema_migrations (
        version int PRIMARY KEY,
        name text NOT NULL,
        checksum text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
    const { rows: applied } = await client.query<{ version: number; name: string; checksum: string }>(
      'SELECT version, name, checksum FROM public.schema_migrations ORDER BY version',
    );
    const known = new Map(migrations.map((migration) => [migration.version, migration]));
    for (const row of applied) {
      const migration = known.get(row.version);
      if (!migration) {
        throw new Error(
          `database has migration ${row.name} that this code does not know: run the newer code or restore a backup`,
        );
      }
      if (migration.checksum !== row.checksum) {
        throw new Error(
          `migration ${row.name} was edited after it was applied (checksum ${row.checksum.slice(0, 12)}… is now ${migration.checksum.slice(0, 12)}…): restore it and add a new migration instead`,
        );
      }
    }
    const appliedVersions = new Set(applied.map((row) => row.version));
    let count = 0;
    for (const migration of migrations) {
      if (appliedVersions.has(migration.version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(migration.sql);
        await client.query(
          'INSERT INTO public.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)',
          [migration.version, migration.name, migration.checksum],
        );
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${migration.name} failed: ${(error as Error).message}`);
      }
      logger.info({ migration: migration.name }, 'migration applied');
      count += 1;
    }
    return count;
  } finally {
    // Ending the session releases the advisory lock too.
    await client.end();
  }
}

/**
 * True when `expected` migrations (the count this code knows, from loadMigrations once at start-up)
 * are applied. Used by /readyz on every probe, so it reads no files.
 */
export async function migrationsApplied(pool: DatabasePool, expected: number): Promise<boolean> {
  const exists = await pool.oneFirst(sql.unsafe`SELECT to_regclass('public.schema_migrations') IS NOT NULL`);
  if (!exists) return false;
  return (await pool.oneFirst(sql.unsafe`SELECT count(*)::int FROM public.schema_migrations`)) === expected;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
