import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql } from 'slonik';
import { migrate } from '../../src/db/migrate.ts';
import { asTenant, createDatabasePool, type DatabasePool } from '../../src/db/pool.ts';
import { createTestDatabase, type TestDatabase, testLogger } from '../support/database.ts';

describe('database pool', () => {
  let db: TestDatabase;
  let pool: DatabasePool;
  before(async () => {
    db = await createTestDatabase('pool');
    await migrate(db.url, testLogger);
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

  it('sets the tenant and the unprivileged role for one transaction only', async () => {
    const organizationId = randomUUID();
    const seen = await asTenant(pool, organizationId, (tx) =>
      tx.one(sql.unsafe`SELECT current_setting('app.organization_id', true) AS tenant, current_user AS role`),
    );
    assert.deepEqual(seen, { tenant: organizationId, role: 'pytake_app' });
    const outside = await pool.oneFirst(
      sql.unsafe`SELECT coalesce(current_setting('app.organization_id', true), '')`,
    );
    assert.equal(outside, '');
  });
});
