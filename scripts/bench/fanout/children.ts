/**
 * bench:fanout's helper processes (the client process, the bare uWS server): Node children with an
 * IPC channel, their output in a log file shown when they fail.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

export type IpcChild<In, Out extends { op: string }> = {
  pid: number;
  send(message: In): void;
  /** The next message with this `op` (or a `failed` one), within `timeoutMs`. */
  next<Op extends Out['op']>(op: Op, timeoutMs: number): Promise<Extract<Out, { op: Op }>>;
  stop(): Promise<void>;
};

export function spawnIpc<In, Out extends { op: string }>(
  script: string,
  logPath: string,
  nodeFlags: string[] = [],
): IpcChild<In, Out> {
  const log = openSync(logPath, 'a');
  const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', script], {
    cwd: repoRoot,
    stdio: ['ignore', log, log, 'ipc'],
  });
  closeSync(log);
  const tail = () => readFileSync(logPath, 'utf8').trim().split('\n').slice(-20).join('\n');
  const inbox: Out[] = [];
  const waiters = new Set<() => void>();
  child.on('message', (message: Out) => {
    inbox.push(message);
    for (const wake of waiters) wake();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => {
    for (const wake of waiters) wake();
  });
  return {
    pid: child.pid as number,
    send: (message) => child.send(message as object),
    next(op, timeoutMs) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`${script}: no ${op} within ${timeoutMs / 1000} s:\n${tail()}`));
        }, timeoutMs);
        const check = () => {
          const index = inbox.findIndex((message) => message.op === op || message.op === 'failed');
          if (index !== -1) {
            const [message] = inbox.splice(index, 1) as [Out];
            clearTimeout(timer);
            waiters.delete(check);
            if (message.op === 'failed') reject(new Error(`${script}: ${JSON.stringify(message)}`));
            else resolve(message as Extract<Out, { op: typeof op }>);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            clearTimeout(timer);
            waiters.delete(check);
            reject(new Error(`${script} exited with ${child.exitCode ?? child.signalCode}:\n${tail()}`));
          }
        };
        waiters.add(check);
        check();
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Resident memory of a process in bytes (VmRSS of /proc/<pid>/status). */
export function residentBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+) kB/m.exec(status);
  if (!match) throw new Error(`no VmRSS for ${pid}`);
  return Number(match[1]) * 1024;
}

/**
 * Runs two full garbage collections in a process started with `--inspect=127.0.0.1:0` (through the
 * inspector URL it printed in `logPath`) and answers its JavaScript heap in use afterwards, in bytes.
 * Memory is read after this, so that garbage left by the set-up does not hide what sockets cost.
 */
export async function collectGarbage(logPath: string): Promise<number> {
  const url = /Debugger listening on (ws:\/\/\S+)/.exec(readFileSync(logPath, 'utf8'))?.[1];
  if (!url) throw new Error(`${logPath}: no inspector URL (start the process with --inspect=127.0.0.1:0)`);
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  let lastId = 0;
  const call = (method: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const id = ++lastId;
      const onMessage = (data: Buffer) => {
        const message = JSON.parse(data.toString()) as {
          id?: number;
          result?: Record<string, unknown>;
          error?: unknown;
        };
        if (message.id !== id) return;
        ws.off('message', onMessage);
        if (message.error) reject(new Error(`${method}: ${JSON.stringify(message.error)}`));
        else resolve(message.result ?? {});
      };
      ws.on('message', onMessage);
      ws.send(JSON.stringify({ id, method }));
    });
  try {
    await call('HeapProfiler.collectGarbage');
    await call('HeapProfiler.collectGarbage');
    return Number((await call('Runtime.getHeapUsage')).usedSize);
  } finally {
    ws.close();
  }
}
