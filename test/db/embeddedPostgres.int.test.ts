import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../src/db/embeddedPostgres.ts';
import { testLogger } from '../support/database.ts';

async function query(url: string, text: string): Promise<unknown[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text)).rows;
  } finally {
    await client.end();
  }
}

describe('embedded Postgres', { timeout: 180_000 }, () => {
  // Inside a fresh 0700 folder, like /root: run as root, Postgres runs as an unprivileged user, and
  // the launcher must make the way to its data traversable for it.
  const dataDir = join(mkdtempSync(join(tmpdir(), 'pytake-embedded-')), 'data');

  it('initialises once, keeps its data across restarts, and remembers its port', async () => {
    const first = await startEmbeddedPostgres(dataDir, 'pytake', testLogger);
    await query(first.url, 'CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)');
    const port = new URL(first.url).port;
    await first.stop();
    assert.equal(existsSync(join(dataDir, 'postgres.lock')), false);

    const second = await startEmbeddedPostgres(dataDir, 'pytake', testLogger);
    try {
      assert.deepEqual(await query(second.url, 'SELECT n FROM kept'), [{ n: 42 }]);
      assert.equal(new URL(second.url).port, port);
      const state = JSON.parse(readFileSync(join(dataDir, 'postgres.json'), 'utf8')) as { port: number };
      assert.equal(String(state.port), port);
    } finally {
      await second.stop();
    }
  });

  it('refuses to start a second server on a data folder in use', async () => {
    const running = await startEmbeddedPostgres(dataDir, 'pytake', testLogger);
    try {
      await assert.rejects(startEmbeddedPostgres(dataDir, 'pytake', testLogger), /is in use by process \d+/);
    } finally {
      await running.stop();
    }
  });

  it('recovers the folder after the process running it was killed', async () => {
    // A child process starts the server and is SIGKILLed: its Postgres is orphaned, its lock stale.
    const script = `
      import { startEmbeddedPostgres } from './src/db/embeddedPostgres.ts';
      import { createLogger } from './src/log/logger.ts';
      const db = await startEmbeddedPostgres(${JSON.stringify(dataDir)}, 'pytake', createLogger('silent'));
      console.log('ready');
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve());
      child.on('exit', (code) => reject(new Error(`child exited with ${code}`)));
    });
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));

    const restarted = await startEmbeddedPostgres(dataDir, 'pytake', testLogger);
    try {
      assert.deepEqual(await query(restarted.url, 'SELECT n FROM kept'), [{ n: 42 }]);
    } finally {
      await restarted.stop();
    }
  });
});
