/**
 * The bench's child processes: the real server (`node --import tsx src/main.ts`) and the bare uWS
 * endpoint. Each writes its output to a log file, shown when it fails to start.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { variables } from '../../../src/config/config.ts';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

export type Child = {
  pid: number;
  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
};

function tail(logPath: string): string {
  return readFileSync(logPath, 'utf8').trim().split('\n').slice(-20).join('\n');
}

function spawnLogged(
  script: string,
  env: NodeJS.ProcessEnv,
  logPath: string,
  stdout: 'pipe' | 'log',
  nodeFlags: string[] = [],
) {
  const log = openSync(logPath, 'a');
  const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', script], {
    cwd: repoRoot,
    env,
    stdio: ['ignore', stdout === 'pipe' ? 'pipe' : log, log],
  });
  closeSync(log); // the child has its own copy
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (graceMs = 15_000) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };
  return { child, exited, stop };
}

/** Fails with the log's tail when `started` loses the race against the child's exit. */
async function startedOrExit<T>(
  name: string,
  spawned: { child: ChildProcess; exited: Promise<void> },
  logPath: string,
  started: Promise<T>,
): Promise<T> {
  const exit = spawned.exited.then(() => {
    throw new Error(
      `${name} exited with ${spawned.child.exitCode ?? spawned.child.signalCode}:\n${tail(logPath)}`,
    );
  });
  return Promise.race([started, exit]);
}

/** A port free on loopback right now. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** How the benchmarks run the server: production mode on loopback, quiet, with keys generated into `dataDir`. */
export async function benchServerConfig(settings: {
  databaseUrl: string;
  port: number;
  appSecret: string;
  dataDir: string;
  pool: number;
}): Promise<Record<string, string>> {
  return {
    DATABASE_URL: settings.databaseUrl,
    HOST: '127.0.0.1',
    PORT: String(settings.port),
    LOG_LEVEL: 'warn',
    META_APP_SECRET: settings.appSecret,
    NODE_ENV: 'production',
    ALLOW_DEV_FALLBACKS: 'true', // keys generated into DATA_DIR
    DATA_DIR: settings.dataDir,
    DATABASE_POOL_SIZE: String(settings.pool),
    // Nothing is verified, and a bench that sends measures no Graph API: a port nobody listens on.
    META_GRAPH_URL: `http://127.0.0.1:${await freePort()}`,
    CHANNEL_VERIFICATION: 'off',
  };
}

/**
 * The real server with `config` on top of this environment, less every PyTake variable set here
 * (REDIS_URL, EVENTSTORE_URL… would change what is measured). Resolves once /readyz answers 200.
 */
export async function startServer(
  config: Record<string, string>,
  logPath: string,
  nodeFlags: string[],
): Promise<Child> {
  const env = { ...process.env };
  for (const name of Object.keys(variables)) delete env[name];
  const spawned = spawnLogged('src/main.ts', { ...env, ...config }, logPath, 'log', nodeFlags);
  const ready = async () => {
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const status = await fetch(`http://${config.HOST}:${config.PORT}/readyz`).then(
        (response) => response.status,
        () => 0,
      );
      if (status === 200) return;
      await sleep(100);
    }
    throw new Error(`server not ready after 60 s:\n${tail(logPath)}`);
  };
  try {
    await startedOrExit('server', spawned, logPath, ready());
  } catch (error) {
    await spawned.stop(1000);
    throw error;
  }
  return { pid: spawned.child.pid as number, stop: spawned.stop };
}

/** Ceiling A's endpoint (bareServer.ts); resolves with its port once it listens. */
export async function startBareServer(logPath: string): Promise<Child & { port: number }> {
  const spawned = spawnLogged('scripts/bench/ingest/bareServer.ts', process.env, logPath, 'pipe');
  const port = new Promise<number>((resolve) =>
    spawned.child.stdout?.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim()))),
  );
  try {
    const listening = await startedOrExit('bare uWS endpoint', spawned, logPath, port);
    return { pid: spawned.child.pid as number, stop: spawned.stop, port: listening };
  } catch (error) {
    await spawned.stop(1000);
    throw error;
  }
}
