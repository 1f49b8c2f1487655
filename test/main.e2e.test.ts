import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import pg from 'pg';
import { createTestDatabase } from './support/database.ts';
import { startServer, stop } from './support/serverProcess.ts';

async function get(port: number, path: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  const text = await response.text();
  return {
    status: response.status,
    body: response.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text,
  };
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

describe('the server process (npm start)', { timeout: 240_000 }, () => {
  it('starts on embedded Postgres with nothing configured, keeps its data across restarts and kills', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'pytake-main-'));
    const env = { DATA_DIR: dataDir, DATABASE_URL: '' };

    const first = await startServer(env);
    assert.deepEqual(await get(first.port, '/healthz'), { status: 200, body: { status: 'ok' } });
    const ready = await get(first.port, '/readyz');
    assert.equal(ready.status, 200);
    const { port: pgPort, password } = JSON.parse(readFileSync(join(dataDir, 'postgres.json'), 'utf8')) as {
      port: number;
      password: string;
    };
    const url = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${pgPort}/pytake`;
    await withClient(url, (client) => client.query('CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)'));
    assert.equal(await stop(first), 0, 'a graceful stop exits 0');
    assert.equal(existsSync(join(dataDir, 'postgres.lock')), false, 'the lock is released');

    const second = await startServer(env);
    assert.ok(!second.logs.some((line) => line.includes('initialising embedded Postgres')), 'data is reused');
    assert.ok(
      !second.logs.some((line) => line.includes('migration applied')),
      'migrations are not re-applied',
    );
    assert.deepEqual(
      await withClient(url, async (client) => (await client.query('SELECT n FROM kept')).rows),
      [{ n: 7 }],
    );
    await stop(second, 'SIGKILL');

    // Killed without a chance to stop its Postgres: the next start takes the folder over.
    const third = await startServer(env);
    try {
      assert.equal((await get(third.port, '/readyz')).status, 200);
      assert.deepEqual(
        await withClient(url, async (client) => (await client.query('SELECT n FROM kept')).rows),
        [{ n: 7 }],
      );
    } finally {
      assert.equal(await stop(third, 'SIGINT'), 0);
    }
  });

  it('uses DATABASE_URL when it is set, and answers unknown routes with problem+json', async () => {
    const db = await createTestDatabase('main');
    const server = await startServer({
      DATABASE_URL: db.url,
      DATA_DIR: mkdtempSync(join(tmpdir(), 'pytake-main-')),
    });
    try {
      assert.ok(server.logs.some((line) => line.includes('"database":"external"')));
      const missing = await fetch(`http://127.0.0.1:${server.port}/api/v1/nothing`);
      assert.equal(missing.status, 404);
      assert.equal(missing.headers.get('content-type'), 'application/problem+json');
      assert.equal(((await missing.json()) as { code: string }).code, 'http.not_found');
    } finally {
      await stop(server);
      await db.drop();
    }
  });

  it('refuses a wrong configuration with one line naming the variable', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: { ...process.env, PORT: 'eighty' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const code = await new Promise((resolve) => child.once('exit', resolve));
    assert.equal(code, 1);
    assert.equal(stderr.trim(), 'pytake: configuration error: PORT: expected an integer between 0 and 65535');
  });
});
