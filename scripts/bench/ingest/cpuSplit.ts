/**
 * Who used the CPU during a span, in % of one core (the machine has os.cpus().length × 100): the
 * load generator, the server under test, Postgres, and everything else (this bench process, idle
 * while wrk runs, included). On 2 cores all of them compete, so a rate means little without this
 * split. Linux only (/proc): null elsewhere.
 *
 * The load generator (wrk) is a child of this process: its CPU is read from this process's
 * "children" time, which the kernel adds when the child is reaped, so it must end inside the span.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { machineTicks, parseProcessStat, processTicks } from '../measure.ts';

export type CpuSplit = { client: number; server: number; postgres: number; other: number };

type Ticks = {
  total: number;
  busy: number;
  children: number;
  server: number;
  postgres: number;
};

function readTicks(serverPid: number): Ticks {
  const { user, nice, system, idle, iowait, irq, softirq, steal } = machineTicks();
  const children = parseProcessStat(process.pid, readFileSync('/proc/self/stat', 'utf8')).children;
  let server = 0;
  let postgres = 0;
  for (const ticks of processTicks()) {
    if (ticks.pid === serverPid) server = ticks.own;
    // The postmaster collects the time of backends that ended (cutime).
    else if (ticks.name === 'postgres') postgres += ticks.own + ticks.children;
  }
  return {
    total: user + nice + system + idle + iowait + irq + softirq + steal,
    // Interrupt time (loopback TCP, mostly) belongs to no process: it lands in `other`.
    busy: user + nice + system + irq + softirq + steal,
    children,
    server,
    postgres,
  };
}

/** Starts a meter; the returned function reads it. `serverPid`: the process under test. */
export function startCpuMeter(serverPid: number): () => CpuSplit | null {
  if (os.platform() !== 'linux') return () => null;
  const start = readTicks(serverPid);
  return () => {
    const end = readTicks(serverPid);
    // Ticks → % of one core, without assuming the clock-tick rate.
    const pct = (key: keyof Ticks) =>
      (100 * (end[key] - start[key]) * os.cpus().length) / (end.total - start.total);
    const split = { client: pct('children'), server: pct('server'), postgres: pct('postgres') };
    return { ...split, other: Math.max(0, pct('busy') - split.client - split.server - split.postgres) };
  };
}
