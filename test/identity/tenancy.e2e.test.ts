import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { permissions } from '../../src/identity/permissions.ts';
import { startTestApp, type TestApp } from '../support/app.ts';

type Operation = { security?: unknown[]; 'x-permission'?: string };

describe('tenant isolation and route protection', { timeout: 60_000 }, () => {
  let t: TestApp;
  let client: pg.Client;
  before(async () => {
    t = await startTestApp('tenancy');
    client = new pg.Client({ connectionString: t.db.url });
    await client.connect();
  });
  after(async () => {
    await client.end();
    await t.close();
  });

  it('declares a permission on every route but the public ones, and enforces it', async () => {
    const doc = (await t.request('GET', '/openapi.json')).body as {
      paths: Record<string, Record<string, Operation>>;
    };
    const publicRoutes: string[] = [];
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        const permission = operation['x-permission'];
        if (permission === undefined) {
          publicRoutes.push(`${method.toUpperCase()} ${path}`);
          continue;
        }
        assert.ok(
          permission === 'authenticated' || (permissions as readonly string[]).includes(permission),
          `${method} ${path} names a known permission`,
        );
        // Without a token, every protected route answers 401 before doing anything.
        const concrete = path.replace(/\{[^}]+\}/g, randomUUID());
        const response = await t.request(
          method.toUpperCase(),
          concrete,
          method === 'get' ? {} : { body: {} },
        );
        assert.equal(response.status, 401, `${method} ${path} without a token`);
      }
    }
    assert.deepEqual(
      publicRoutes.sort(),
      [
        'GET /docs',
        'GET /healthz',
        'GET /metrics',
        'GET /openapi.json',
        'GET /readyz',
        'POST /api/v1/auth/login',
        'POST /api/v1/auth/logout',
        'POST /api/v1/auth/refresh',
        'POST /api/v1/auth/signup',
        'POST /webhooks/meta',
        'POST /webhooks/meta/{channelId}',
        // Webhooks are public: their signature (or verify token) is their authentication.
        'GET /webhooks/meta',
        'GET /webhooks/meta/{channelId}',
      ].sort(),
    );
  });

  it('partitions every read-model table by organization and guards it with row-level security', async () => {
    const { rows } = await client.query<{
      table: string;
      partitioned: boolean;
      rls: boolean;
      first: string;
    }>(`
      SELECT c.relname AS table, c.relkind = 'p' AS partitioned, c.relrowsecurity AS rls,
             (SELECT a.attname FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum = 1) AS first
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = 'rm' AND c.relkind IN ('r', 'p') AND NOT c.relispartition`);
    assert.ok(rows.length >= 6);
    for (const row of rows) {
      assert.deepEqual(row, { table: row.table, partitioned: true, rls: true, first: 'organization_id' });
    }
  });

  it('returns nothing to a query that does not set its tenant', async () => {
    const password = 'correct horse battery staple';
    const signup = await t.request('POST', '/api/v1/auth/signup', {
      body: { organizationName: 'Rls', name: 'Admin', email: `rls-${randomUUID()}@example.com`, password },
    });
    assert.equal(signup.status, 201);
    const organizationId = signup.body.organization.id as string;
    const count = async (setTenant: string | null) => {
      await client.query('BEGIN');
      try {
        await client.query("SELECT set_config('role', 'pytake_app', true)");
        if (setTenant) await client.query("SELECT set_config('app.organization_id', $1, true)", [setTenant]);
        const { rows } = await client.query<{ n: number }>(
          `SELECT (SELECT count(*) FROM rm.users) + (SELECT count(*) FROM rm.organizations) AS n`,
        );
        return Number(rows[0]?.n);
      } finally {
        await client.query('ROLLBACK');
      }
    };
    assert.equal(await count(null), 0, 'no tenant: nothing');
    assert.equal(await count(randomUUID()), 0, 'another tenant: nothing');
    assert.equal(await count(organizationId), 2, 'its own tenant: its organization and its admin');
  });
});
