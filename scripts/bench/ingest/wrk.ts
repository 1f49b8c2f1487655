/**
 * Runs wrk (a separate process, in C: a Node client tops out near 9k requests/s on 2 cores) with
 * signedBodies.lua, and reads back its figures and the CPU split of the span.
 */
import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type CpuSplit, startCpuMeter } from './cpuSplit.ts';

const script = fileURLToPath(new URL('./signedBodies.lua', import.meta.url));

export type WrkLoad = { threads: number; connections: number; seconds: number };

export type WrkResult = {
  requests: number;
  /** wrk's own duration: from the moment every thread has its bodies loaded to the stop. */
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Answers with a status of 400 or more (wrk's "Non-2xx or 3xx responses"). */
  non2xx: number;
  /** Connect, read and write errors, and timeouts. */
  socketErrors: number;
  /** Requests written, answered or not (some are in flight when wrk stops). */
  sent: number;
  /** Times a thread ran out of bodies and started its file again. */
  wraps: number;
  cpu: CpuSplit | null;
};

type Printed = {
  durationUs: number;
  requests: number;
  non2xx: number;
  socketErrors: number;
  p50Us: number;
  p99Us: number;
  sentByThread: number[];
  wraps: number;
};

/**
 * `bodies`: the prefix of the per-thread files (`<prefix>.<thread>`). `serverPid`: the process under
 * test, for the CPU split. The 10 s timeout keeps slow answers as latencies rather than errors.
 * `once`: every body is sent once and answered, then wrk stops; `load.seconds` is then only a bound.
 */
export async function runWrk(
  url: string,
  bodies: string,
  load: WrkLoad,
  serverPid: number,
  once = false,
): Promise<WrkResult> {
  const args = [`-t${load.threads}`, `-c${load.connections}`, `-d${load.seconds}s`, '--timeout', '10s'];
  const spent = Array.from({ length: load.threads }, (_, thread) => `${bodies}.spent.${thread}`);
  // The threads' barrier and the marks of spent threads, see signedBodies.lua.
  for (const file of [`${bodies}.loaded`, ...spent]) rmSync(file, { force: true });
  const scriptArgs = [bodies, String(load.threads), ...(once ? ['once', String(load.connections)] : [])];
  const meter = startCpuMeter(serverPid);
  const child = spawn('wrk', [...args, '--latency', '-s', script, url, '--', ...scriptArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // wrk sleeps out -d unless interrupted; it ignores SIGINT until its threads run: ask until it ends.
  const interrupter = once
    ? setInterval(() => {
        if (spent.every((file) => existsSync(file))) child.kill('SIGINT');
      }, 10)
    : undefined;
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk;
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  }).finally(() => clearInterval(interrupter));
  const cpu = meter();
  const line = stdout.split('\n').find((l) => l.startsWith('wrk-result '));
  if (code !== 0 || !line) throw new Error(`wrk exited with ${code}: ${stderr.trim() || stdout.trim()}`);
  const printed = JSON.parse(line.slice('wrk-result '.length)) as Printed;
  return {
    requests: printed.requests,
    seconds: printed.durationUs / 1e6,
    perSecond: printed.requests / (printed.durationUs / 1e6),
    p50Ms: printed.p50Us / 1000,
    p99Ms: printed.p99Us / 1000,
    non2xx: printed.non2xx,
    socketErrors: printed.socketErrors,
    sent: printed.sentByThread.reduce((sum, n) => sum + n, 0),
    wraps: printed.wraps,
    cpu,
  };
}
