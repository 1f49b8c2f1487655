import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadMigrations, migrate, migrationsApplied, migrationsDir } from '../../src/db/migrate.ts';
import { createDatabasePool } from '../../src/db/pool.ts';
import { createTestDatabase, type TestDatabase, testLogger } from '../support/database.ts';

describe('migrations', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase('migrate');
  });
  after(async () => {
    await db.drop();
  });

  it('applies each migration once when several nodes start at the same time', async () => {
    const counts = await Promise.all(Array.from({ length: 4 }, () => migrate(db.url, testLogger)));
    assert.equal(
      counts.reduce((sum, count) => sum + count, 0),
      loadMigrations().length,
    );
    const pool = await createDatabasePool(db.url, 2);
    try {
      assert.equal(await migrationsApplied(pool, loadMigrations().length), true);
    } finally {
      await pool.end();
    }
    assert.equal(await migrate(db.url, testLogger), 0);
  });

  it('stops when an applied migration was edited', async () => {
    const edited = mkdtempSync(join(tmpdir(), 'pytake-migrations-'));
    cpSync(migrationsDir, edited, { recursive: true });
    writeFileSync(join(edited, '0001_event_store.sql'), '-- edited\nCREATE SCHEMA IF NOT EXISTS es;\n');
    await assert.rejects(
      migrate(db.url, testLogger, edited),
      /0001_event_store\.sql was edited after it was applied/,
    );
  });

  it('stops when the database has a migration this code does not know', async () => {
    const older = mkdtempSync(join(tmpdir(), 'pytake-migrations-'));
    cpSync(join(migrationsDir, '0001_event_store.sql'), join(older, '0001_event_store.sql'));
    await assert.rejects(migrate(db.url, testLogger, older), /that this code does not know/);
  });

  it('refuses a migration that destroys data', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pytake-migrations-'));
    writeFileSync(join(dir, '0001_oops.sql'), 'DROP TABLE es.events;');
    assert.throws(() => loadMigrations(dir), /destroys data/);
  });
});
