import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startTestApp } from '../support/app.ts';
import { createTestDatabase } from '../support/database.ts';
import { runScript } from '../support/runScript.ts';

const createOrg = (args: string[], env: Record<string, string>) =>
  runScript('scripts/createOrg.ts', args, env);

describe('npm run create-org', { timeout: 120_000 }, () => {
  it('creates an organization whose admin can log in at once, and refuses bad arguments', async () => {
    const db = await createTestDatabase('create_org');
    const env = { DATABASE_URL: db.url, LOG_LEVEL: 'silent' };
    const email = 'owner@create-org.example';
    const password = 'correct horse battery staple';
    const created = await createOrg(['--name', 'Acme', '--email', email, '--password', password], env);
    assert.equal(created.code, 0, created.out);
    assert.match(
      created.out,
      /^organization [0-9a-f-]{36} \(Acme\)\norg_admin {4}[0-9a-f-]{36} <owner@create-org\.example>\n$/,
    );

    const again = await createOrg(['--name', 'Acme 2', '--email', email, '--password', password], env);
    assert.equal(again.code, 1);
    assert.match(again.out, /email is already in use/);
    const bad = await createOrg(['--name', 'X', '--email', 'not-an-email', '--password', 'short'], env);
    assert.equal(bad.code, 2);
    assert.match(bad.out, /\/email: must match format "email"/);

    const t = await startTestApp('create_org', {}, db);
    try {
      const login = await t.request('POST', '/api/v1/auth/login', { body: { email, password } });
      assert.equal(login.status, 200);
      const me = await t.request('GET', '/api/v1/me', { token: login.body.accessToken });
      assert.equal(me.body.role, 'org_admin');
    } finally {
      await t.close();
    }
  });
});
