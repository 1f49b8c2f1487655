/**
 * `npm test`: typecheck, lint, then every test tier under test/ against a real Postgres — the one
 * in PYTAKE_TEST_ADMIN_URL, else the machine's own on 127.0.0.1:5432 when it answers, else an
 * embedded one under ./data/test-postgres. Each test file creates (and drops) its own database.
 *   npm test                   the whole suite
 *   npm test -- eventstore     only test files whose path contains "eventstore"
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../src/db/embeddedPostgres.ts';
import { createLogger } from '../src/log/logger.ts';

const filters = process.argv.slice(2);
const logger = createLogger('info');

function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: 'inherit', env });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

async function reachable(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function testFiles(): string[] {
  return readdirSync('test', { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.test.ts'))
    .map((entry) => join(entry.parentPath, entry.name))
    .filter((file) => filters.length === 0 || filters.some((filter) => file.includes(filter)))
    .sort();
}

async function main(): Promise<number> {
  if (filters.length === 0) {
    if ((await run('npx', ['tsc', '--noEmit', '-p', '.'])) !== 0) return 1;
    if ((await run('npx', ['biome', 'check', '.'])) !== 0) return 1;
  }
  let adminUrl = process.env.PYTAKE_TEST_ADMIN_URL;
  let embedded: Awaited<ReturnType<typeof startEmbeddedPostgres>> | undefined;
  if (!adminUrl) {
    const local = 'postgres://postgres@127.0.0.1:5432/postgres';
    if (await reachable(local)) {
      adminUrl = local;
    } else {
      logger.info('no Postgres on 127.0.0.1:5432: starting an embedded one for the tests');
      embedded = await startEmbeddedPostgres('./data/test-postgres', 'postgres', logger);
      adminUrl = embedded.adminUrl;
    }
  }
  logger.info({ postgres: new URL(adminUrl).host }, 'running tests');
  try {
    return await run(
      process.execPath,
      ['--import', 'tsx', '--test', '--test-concurrency=4', '--test-timeout=300000', ...testFiles()],
      { ...process.env, PYTAKE_TEST_ADMIN_URL: adminUrl },
    );
  } finally {
    await embedded?.stop();
  }
}

process.exitCode = await main();
