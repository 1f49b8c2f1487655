import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql } from 'slonik';
import { asTenant, createDatabasePool, type DatabasePool } from '../../src/db/pool.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

describe('database pool', () => {
  let db: TestDatabase;
  let pool: DatabasePool;
  before(async () => {
    db = await createTestDatabase('pool');
    pool = await createDatabasePool(db.url, 4);
  });
  after(async () => {
    await pool.end();
    await db.drop();
  });

  it('returns int8 as bigint and timestamptz as Date, losing no precision', async () => {
    const row = await pool.one(sql.unsafe`SELECT 9007199254740993::int8 AS big, now() AS at`);
    assert.equal(row.big, 9_007_199_254_740_993n);
    assert.ok(row.at instanceof Date);
  });

  it('sets the tenant for one transaction only', async () => {
    const organizationId = randomUUID();
    const seen = await asTenant(pool, organizationId, (tx) =>
      tx.oneFirst(sql.unsafe`SELECT current_setting('app.organization_id', true)`),
    );
    assert.equal(seen, organizationId);
    const outside = await pool.oneFirst(
      sql.unsafe`SELECT coalesce(current_setting('app.organization_id', true), '')`,
    );
    assert.equal(outside, '');
  });
});
