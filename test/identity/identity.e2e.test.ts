import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import argon2 from 'argon2';
import pg from 'pg';
import { createDatabasePool } from '../../src/db/pool.ts';
import { toNewEvents } from '../../src/eventsourcing/commandHandler.ts';
import { PostgresEventStore } from '../../src/eventstore/postgresEventStore.ts';
import { SchemaRegistry } from '../../src/schemas/schemaRegistry.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { testLogger } from '../support/database.ts';

const password = 'correct horse battery staple';

async function signup(t: TestApp, label: string) {
  const email = `${label}-${randomUUID().slice(0, 8)}@example.com`;
  const response = await t.request('POST', '/api/v1/auth/signup', {
    body: { organizationName: `${label} Inc`, name: `${label} admin`, email, password },
  });
  assert.equal(response.status, 201, JSON.stringify(response.body));
  return { ...response.body, email } as {
    organization: { id: string };
    user: { id: string };
    accessToken: string;
    refreshToken: string;
    email: string;
  };
}

describe('identity over HTTP', { timeout: 120_000 }, () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp('identity');
  });
  after(async () => {
    await t.close();
  });

  it('signs up, then logs in at once and tells the caller who they are', async () => {
    const org = await signup(t, 'acme');
    const login = await t.request('POST', '/api/v1/auth/login', { body: { email: org.email, password } });
    assert.equal(login.status, 200);
    assert.equal(login.body.expiresIn, 900);
    const me = await t.request('GET', '/api/v1/me', { token: login.body.accessToken });
    assert.equal(me.status, 200);
    assert.equal(me.body.user.email, org.email);
    assert.equal(me.body.role, 'org_admin');
    assert.ok(me.body.permissions.includes('users.manage'));
    assert.equal(me.body.organizationId, org.organization.id);
  });

  it('answers wrong credentials the same whether or not the email exists, then rate limits', async () => {
    const org = await signup(t, 'guess');
    const wrong = await t.request('POST', '/api/v1/auth/login', {
      body: { email: org.email, password: 'nope-nope' },
    });
    const unknown = await t.request('POST', '/api/v1/auth/login', {
      body: { email: `nobody-${randomUUID()}@example.com`, password: 'nope-nope' },
    });
    assert.equal(wrong.status, 401);
    assert.equal(unknown.status, 401);
    assert.deepEqual({ ...wrong.body, requestId: '' }, { ...unknown.body, requestId: '' });
    for (let attempt = 0; attempt < 4; attempt += 1) {
      await t.request('POST', '/api/v1/auth/login', { body: { email: org.email, password: 'nope-nope' } });
    }
    const limited = await t.request('POST', '/api/v1/auth/login', { body: { email: org.email, password } });
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
  });

  it('upgrades a password hash made with older parameters at the next login', async () => {
    const org = await signup(t, 'rehash');
    const pool = await createDatabasePool(t.db.url, 2);
    const store = await PostgresEventStore.open({
      pool,
      databaseUrl: t.db.url,
      registry: new SchemaRegistry(),
      logger: testLogger,
    });
    const userId = randomUUID();
    const email = `old-${userId.slice(0, 8)}@example.com`;
    const oldHash = await argon2.hash(password, {
      type: argon2.argon2id,
      memoryCost: 4096,
      timeCost: 3,
      parallelism: 1,
    });
    await store.appendToStream(
      `user-${userId}`,
      toNewEvents(
        [
          {
            type: 'UserRegistered',
            data: { userId, email, name: 'Old', role: 'agent', passwordHash: oldHash },
          },
        ],
        {
          organizationId: org.organization.id,
          actor: 'system',
        },
      ),
      'no_stream',
    );
    await store.close();
    await pool.end();
    const client = new pg.Client({ connectionString: t.db.url });
    await client.connect();
    const storedHash = async () =>
      (await client.query('SELECT password_hash FROM rm.users WHERE user_id = $1', [userId])).rows[0]
        ?.password_hash;
    try {
      while ((await storedHash()) !== oldHash) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(
        (await t.request('POST', '/api/v1/auth/login', { body: { email, password } })).status,
        200,
      );
      assert.match(await storedHash(), /m=19456/);
      assert.equal(
        (await t.request('POST', '/api/v1/auth/login', { body: { email, password } })).status,
        200,
      );
    } finally {
      await client.end();
    }
  });

  it('rotates refresh tokens and revokes the family when a spent one comes back', async () => {
    const org = await signup(t, 'rotate');
    const first = await t.request('POST', '/api/v1/auth/refresh', {
      body: { refreshToken: org.refreshToken },
    });
    assert.equal(first.status, 200);
    assert.notEqual(first.body.refreshToken, org.refreshToken);
    const replay = await t.request('POST', '/api/v1/auth/refresh', {
      body: { refreshToken: org.refreshToken },
    });
    assert.equal(replay.status, 401);
    assert.equal(replay.body.code, 'auth.refresh_reused');
    // The whole family is gone: the newest refresh token and its access token too.
    const newest = await t.request('POST', '/api/v1/auth/refresh', {
      body: { refreshToken: first.body.refreshToken },
    });
    assert.equal(newest.status, 401);
    assert.equal((await t.request('GET', '/api/v1/me', { token: first.body.accessToken })).status, 401);
  });

  it('logs out: the refresh token and the session’s access tokens stop working', async () => {
    const org = await signup(t, 'logout');
    assert.equal(
      (await t.request('POST', '/api/v1/auth/logout', { body: { refreshToken: org.refreshToken } })).status,
      204,
    );
    assert.equal(
      (await t.request('POST', '/api/v1/auth/refresh', { body: { refreshToken: org.refreshToken } })).status,
      401,
    );
    assert.equal((await t.request('GET', '/api/v1/me', { token: org.accessToken })).status, 401);
  });

  it('refuses missing and malformed tokens with 401', async () => {
    assert.equal((await t.request('GET', '/api/v1/users')).status, 401);
    const bad = await t.request('GET', '/api/v1/users', { token: 'not.a.jwt' });
    assert.equal(bad.status, 401);
    assert.equal(bad.body.code, 'auth.token_invalid');
  });

  it('enforces roles and custom permissions', async () => {
    const org = await signup(t, 'roles');
    const admin = org.accessToken;
    const role = await t.request('POST', '/api/v1/roles', {
      token: admin,
      body: { name: 'Supervisor', permissions: ['users.read', 'teams.read'] },
    });
    assert.equal(role.status, 201);
    const makeUser = async (roleName: string) => {
      const email = `${roleName.toLowerCase()}-${randomUUID().slice(0, 8)}@example.com`;
      const created = await t.request('POST', '/api/v1/users', {
        token: admin,
        body: { email, name: roleName, password, role: roleName },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const login = await t.request('POST', '/api/v1/auth/login', { body: { email, password } });
      return login.body.accessToken as string;
    };
    const agent = await makeUser('agent');
    const supervisor = await makeUser('Supervisor');

    const newUser = { email: `x-${randomUUID()}@example.com`, name: 'X', password, role: 'agent' };
    assert.equal((await t.request('POST', '/api/v1/users', { token: agent, body: newUser })).status, 403);
    assert.equal((await t.request('GET', '/api/v1/users', { token: supervisor })).status, 200);
    const forbidden = await t.request('POST', '/api/v1/users', { token: supervisor, body: newUser });
    assert.equal(forbidden.status, 403);
    assert.equal(forbidden.body.code, 'auth.forbidden');
    assert.equal(
      (await t.request('POST', '/api/v1/departments', { token: supervisor, body: { name: 'D' } })).status,
      403,
    );
    assert.equal((await t.request('GET', '/api/v1/departments', { token: supervisor })).status, 200);
    const me = await t.request('GET', '/api/v1/me', { token: supervisor });
    assert.deepEqual(me.body.permissions, ['users.read', 'teams.read']);

    // Unknown permissions and roles are refused with paths.
    const badRole = await t.request('POST', '/api/v1/roles', {
      token: admin,
      body: { name: 'Odd', permissions: ['users.read', 'root.everything'] },
    });
    assert.equal(badRole.status, 422);
    assert.equal(badRole.body.errors[0].path, '/permissions/1');
    const unknownRole = await t.request('POST', '/api/v1/users', {
      token: admin,
      body: { ...newUser, role: 'Wizard' },
    });
    assert.equal(unknownRole.status, 422);
    assert.equal(unknownRole.body.errors[0].path, '/role');

    // Demotion takes effect on the next request.
    const users = await t.request('GET', '/api/v1/users', { token: admin });
    const supervisorId = users.body.items.find((user: { role: string }) => user.role === 'Supervisor').id;
    await t.request('PATCH', `/api/v1/users/${supervisorId}`, { token: admin, body: { role: 'viewer' } });
    const after = await t.request('GET', '/api/v1/me', { token: supervisor });
    assert.equal(after.body.role, 'viewer');
  });

  it('never lets anyone grant, or act on someone holding, more than they hold', async () => {
    const org = await signup(t, 'escalation');
    const admin = org.accessToken;
    await t.request('POST', '/api/v1/roles', {
      token: admin,
      body: { name: 'hr', permissions: ['users.manage', 'users.read'] },
    });
    const hrEmail = `hr-${randomUUID().slice(0, 8)}@example.com`;
    const hrUser = await t.request('POST', '/api/v1/users', {
      token: admin,
      body: { email: hrEmail, name: 'HR', password, role: 'hr' },
    });
    const hr = (await t.request('POST', '/api/v1/auth/login', { body: { email: hrEmail, password } })).body
      .accessToken;
    const user = (role: string) => ({
      email: `u-${randomUUID().slice(0, 8)}@example.com`,
      name: 'U',
      password,
      role,
    });

    assert.equal(
      (await t.request('POST', '/api/v1/users', { token: hr, body: user('org_admin') })).status,
      403,
    );
    assert.equal((await t.request('POST', '/api/v1/users', { token: hr, body: user('agent') })).status, 403);
    assert.equal((await t.request('POST', '/api/v1/users', { token: hr, body: user('hr') })).status, 201);
    const promote = await t.request('PATCH', `/api/v1/users/${hrUser.body.id}`, {
      token: hr,
      body: { role: 'org_admin' },
    });
    assert.equal(promote.status, 403);
    const takeover = await t.request('PATCH', `/api/v1/users/${org.user.id}`, {
      token: hr,
      body: { password: 'attacker chosen passphrase' },
    });
    assert.equal(takeover.status, 403);
    assert.equal((await t.request('DELETE', `/api/v1/users/${org.user.id}`, { token: hr })).status, 403);
    assert.equal((await t.request('GET', '/api/v1/me', { token: admin })).body.role, 'org_admin');
  });

  it('ends a user’s sessions when an administrator resets their password', async () => {
    const org = await signup(t, 'reset');
    const email = `reset-${randomUUID().slice(0, 8)}@example.com`;
    const created = await t.request('POST', '/api/v1/users', {
      token: org.accessToken,
      body: { email, name: 'Reset', password, role: 'agent' },
    });
    const session = (await t.request('POST', '/api/v1/auth/login', { body: { email, password } })).body;
    const reset = await t.request('PATCH', `/api/v1/users/${created.body.id}`, {
      token: org.accessToken,
      body: { password: 'a brand new passphrase' },
    });
    assert.equal(reset.status, 200);
    assert.equal((await t.request('GET', '/api/v1/me', { token: session.accessToken })).status, 401);
    assert.equal(
      (await t.request('POST', '/api/v1/auth/refresh', { body: { refreshToken: session.refreshToken } }))
        .status,
      401,
    );
    assert.equal((await t.request('POST', '/api/v1/auth/login', { body: { email, password } })).status, 401);
    const fresh = { email, password: 'a brand new passphrase' };
    assert.equal((await t.request('POST', '/api/v1/auth/login', { body: fresh })).status, 200);
  });

  it('soft-deletes users: no login, gone from lists, their tokens end at once', async () => {
    const org = await signup(t, 'softdelete');
    const email = `leaver-${randomUUID().slice(0, 8)}@example.com`;
    const created = await t.request('POST', '/api/v1/users', {
      token: org.accessToken,
      body: { email, name: 'Leaver', password, role: 'agent' },
    });
    const leaver = (await t.request('POST', '/api/v1/auth/login', { body: { email, password } })).body;
    assert.equal(
      (await t.request('DELETE', `/api/v1/users/${created.body.id}`, { token: org.accessToken })).status,
      204,
    );
    assert.equal((await t.request('POST', '/api/v1/auth/login', { body: { email, password } })).status, 401);
    assert.equal((await t.request('GET', '/api/v1/me', { token: leaver.accessToken })).status, 401);
    assert.equal(
      (await t.request('POST', '/api/v1/auth/refresh', { body: { refreshToken: leaver.refreshToken } }))
        .status,
      401,
    );
    const list = await t.request('GET', '/api/v1/users', { token: org.accessToken });
    assert.ok(!list.body.items.some((user: { id: string }) => user.id === created.body.id));
    assert.equal(
      (await t.request('DELETE', `/api/v1/users/${created.body.id}`, { token: org.accessToken })).status,
      404,
    );
    // The email is free again: a new user (the old one's history keeps its name) can take it.
    const rehired = await t.request('POST', '/api/v1/users', {
      token: org.accessToken,
      body: { email, name: 'Returner', password, role: 'agent' },
    });
    assert.equal(rehired.status, 201);
    assert.notEqual(rehired.body.id, created.body.id);
  });

  it('connects channels without ever echoing their secrets, one phone number id per platform', async () => {
    const org = await signup(t, 'channels');
    const secrets = {
      accessToken: `EAAG-${randomUUID()}`,
      appSecret: `app-${randomUUID()}`,
      verifyToken: `vt-${randomUUID()}`,
    };
    const phoneNumberId = String(Date.now());
    const created = await t.request('POST', '/api/v1/channels', {
      token: org.accessToken,
      body: { name: 'Sales', phoneNumberId, displayPhoneNumber: '+1 555 0100', wabaId: '1234', ...secrets },
    });
    assert.equal(created.status, 201);
    const listed = await t.request('GET', '/api/v1/channels', { token: org.accessToken });
    const one = await t.request('GET', `/api/v1/channels/${created.body.id}`, { token: org.accessToken });
    for (const body of [created.body, listed.body, one.body]) {
      const text = JSON.stringify(body);
      for (const secret of Object.values(secrets))
        assert.ok(!text.includes(secret), 'no secret in a response');
    }
    assert.equal(one.body.hasOwnAppSecret, true);
    assert.equal(one.body.sendRatePerSecond, null);

    // Renamed and given its own send rate; null returns it to OUTBOUND_RATE_PER_SECOND.
    const path = `/api/v1/channels/${created.body.id}`;
    const patch = (body: unknown, token = org.accessToken) => t.request('PATCH', path, { token, body });
    assert.equal((await patch({ name: 'Sales BR', sendRatePerSecond: 250 })).status, 200);
    const patched = await t.request('GET', path, { token: org.accessToken });
    assert.deepEqual([patched.body.name, patched.body.sendRatePerSecond], ['Sales BR', 250]);
    assert.equal((await patch({ sendRatePerSecond: null })).status, 200);
    const reset = await t.request('GET', path, { token: org.accessToken });
    assert.deepEqual([reset.body.name, reset.body.sendRatePerSecond], ['Sales BR', null]);
    assert.equal((await patch({ sendRatePerSecond: 0 })).status, 422);
    assert.equal((await patch({})).status, 422);

    const other = await signup(t, 'channels-other');
    assert.equal((await patch({ name: 'Not yours' }, other.accessToken)).status, 404);
    const taken = await t.request('POST', '/api/v1/channels', {
      token: other.accessToken,
      body: { name: 'Mine', phoneNumberId, displayPhoneNumber: '+1', wabaId: '1', accessToken: 'x' },
    });
    assert.equal(taken.status, 409);
    assert.equal(taken.body.code, 'identity.phone_number_taken');
    // Disconnected, the number can be connected again.
    assert.equal(
      (await t.request('DELETE', `/api/v1/channels/${created.body.id}`, { token: org.accessToken })).status,
      204,
    );
    const reconnected = await t.request('POST', '/api/v1/channels', {
      token: other.accessToken,
      body: { name: 'Mine', phoneNumberId, displayPhoneNumber: '+1', wabaId: '1', accessToken: 'x' },
    });
    assert.equal(reconnected.status, 201);
    // What was stored is ciphertext: neither the event, the read model nor the logs hold a secret.
    const client = new pg.Client({ connectionString: t.db.url });
    await client.connect();
    try {
      const { rows } = await client.query(
        `SELECT (SELECT string_agg(data::text, '') FROM es.events WHERE type = 'ChannelConnected') AS events,
                (SELECT string_agg(access_token_sealed || app_secret_sealed, '') FROM rm.channels) AS channels`,
      );
      const stored = JSON.stringify(rows[0]);
      assert.match(stored, /eyJ/, 'sealed values are JWE compact strings');
      for (const secret of Object.values(secrets)) {
        assert.ok(!stored.includes(secret), 'no plaintext secret stored');
        assert.ok(!t.logs.join('').includes(secret), 'no secret in the logs');
      }
    } finally {
      await client.end();
    }
  });

  it("walks every route with a second organization's token and ids: 404 or 403, never data", async () => {
    const a = await signup(t, 'tenant-a');
    const b = await signup(t, 'tenant-b');
    const channel = await t.request('POST', '/api/v1/channels', {
      token: a.accessToken,
      body: {
        name: 'A',
        phoneNumberId: String(Date.now() + 1),
        displayPhoneNumber: '+1',
        wabaId: '1',
        accessToken: 'tok',
      },
    });
    const user = await t.request('POST', '/api/v1/users', {
      token: a.accessToken,
      body: {
        email: `a-agent-${randomUUID().slice(0, 8)}@example.com`,
        name: 'A agent',
        password,
        role: 'agent',
      },
    });
    const department = await t.request('POST', '/api/v1/departments', {
      token: a.accessToken,
      body: { name: 'A dept' },
    });
    await t.request('POST', '/api/v1/queues', { token: a.accessToken, body: { name: 'A queue' } });

    const asB = { token: b.accessToken };
    assert.equal((await t.request('GET', `/api/v1/channels/${channel.body.id}`, asB)).status, 404);
    assert.equal((await t.request('DELETE', `/api/v1/channels/${channel.body.id}`, asB)).status, 404);
    assert.equal(
      (await t.request('PATCH', `/api/v1/users/${user.body.id}`, { ...asB, body: { name: 'pwned' } })).status,
      404,
    );
    assert.equal((await t.request('DELETE', `/api/v1/users/${user.body.id}`, asB)).status, 404);
    assert.equal((await t.request('DELETE', `/api/v1/users/${a.user.id}`, asB)).status, 404);
    // B cannot reference A's department or users from its own resources either.
    const queue = await t.request('POST', '/api/v1/queues', {
      ...asB,
      body: { name: 'B queue', departmentId: department.body.id, agentIds: [user.body.id] },
    });
    assert.equal(queue.status, 422);
    assert.deepEqual(
      queue.body.errors.map((error: { path: string }) => error.path),
      ['/departmentId', '/agentIds/0'],
    );
    for (const path of [
      '/api/v1/users',
      '/api/v1/channels',
      '/api/v1/departments',
      '/api/v1/queues',
      '/api/v1/roles',
    ]) {
      const seen = JSON.stringify((await t.request('GET', path, asB)).body);
      for (const id of [a.user.id, user.body.id, channel.body.id, department.body.id]) {
        assert.ok(!seen.includes(id), `${path} shows nothing of organization A`);
      }
    }
    // A is untouched.
    const aUser = await t.request('GET', '/api/v1/users', { token: a.accessToken });
    assert.ok(aUser.body.items.some((item: { name: string }) => item.name === 'A agent'));
  });

  it('refuses bad input with paths and changes nothing', async () => {
    const org = await signup(t, 'badinput');
    const token = org.accessToken;
    const before = (await t.request('GET', '/api/v1/users', { token })).body.items.length;
    const cases: [unknown, number, string][] = [
      [{ email: 42, name: 'x', password, role: 'agent' }, 422, '/email'],
      [{ email: 'not-an-email', name: 'x', password, role: 'agent' }, 422, '/email'],
      [{ email: 'a@example.com', name: 'x', password, role: 'agent', admin: true }, 422, '/admin'],
      [{ email: 'a@example.com', name: 'x'.repeat(10_000), password, role: 'agent' }, 422, '/name'],
      [
        { email: "a@example.com'; DROP TABLE rm.users; --", name: 'x', password, role: 'agent' },
        422,
        '/email',
      ],
      [{ email: 'a@example.com', name: 'x', password: 'short', role: 'agent' }, 422, '/password'],
      [{ email: 'a@example.com', name: 'x', password, role: { $ne: null } }, 422, '/role'],
    ];
    for (const [body, status, path] of cases) {
      const response = await t.request('POST', '/api/v1/users', { token, body });
      assert.equal(response.status, status, JSON.stringify(body).slice(0, 80));
      assert.ok(
        response.body.errors.some((error: { path: string }) => error.path === path),
        `${path} in ${JSON.stringify(response.body.errors)}`,
      );
    }
    assert.equal((await t.request('POST', '/api/v1/users', { token, raw: '{"email": ' })).status, 400);
    assert.equal((await t.request('GET', '/api/v1/users/../../etc/passwd', { token })).status, 404);
    assert.equal((await t.request('GET', "/api/v1/channels/1' OR '1'='1", { token })).status, 404);
    assert.equal((await t.request('GET', '/api/v1/users', { token })).body.items.length, before);
  });
});

describe('access token expiry', { timeout: 60_000 }, () => {
  it('answers 401 auth.token_expired once the access token is older than its lifetime', async () => {
    // Three seconds: a loaded machine may take over one between signing the token and using it.
    const t = await startTestApp('identity_expiry', { ACCESS_TOKEN_TTL_SECONDS: '3' });
    try {
      const org = await signup(t, 'expiry');
      const issuedBy = Date.now();
      assert.equal((await t.request('GET', '/api/v1/me', { token: org.accessToken })).status, 200);
      // JWT times are whole seconds: past the lifetime plus one second, it has expired for sure.
      await new Promise((resolve) => setTimeout(resolve, issuedBy + 4100 - Date.now()));
      const expired = await t.request('GET', '/api/v1/me', { token: org.accessToken });
      assert.equal(expired.status, 401);
      assert.equal(expired.body.code, 'auth.token_expired');
    } finally {
      await t.close();
    }
  });
});
