/**
 * Who used the CPU during a span, in % of one core (the machine has os.cpus().length × 100): the
 * load generator, the server under test, Postgres, and everything else (this bench process, idle
 * while wrk runs, included). On 2 cores all of them compete, so a rate means little without this
 * split. Linux only (/proc): null elsewhere.
 *
 * The load generator (wrk) is a child of this process: its CPU is read from this process's
 * "children" time, which the kernel adds when the child is reaped, so it must end inside the span.
 */
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { machineTicks } from '../measure.ts';

export type CpuSplit = { client: number; server: number; postgres: number; other: number };

type Ticks = {
  total: number;
  busy: number;
  children: number;
  server: number;
  postgres: number;
};

/** utime, stime, cutime, cstime of a /proc/<pid>/stat line (fields 14–17; the name may hold spaces). */
function processTicks(stat: string): { name: string; own: number; children: number } {
  const close = stat.lastIndexOf(')');
  const fields = stat
    .slice(close + 2)
    .split(' ')
    .map(Number);
  const [utime = 0, stime = 0, cutime = 0, cstime = 0] = fields.slice(11, 15);
  return { name: stat.slice(stat.indexOf('(') + 1, close), own: utime + stime, children: cutime + cstime };
}

function readTicks(serverPid: number): Ticks {
  const { user, nice, system, idle, iowait, irq, softirq, steal } = machineTicks();
  const children = processTicks(readFileSync('/proc/self/stat', 'utf8')).children;
  let server = 0;
  let postgres = 0;
  for (const pid of readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // ended meanwhile
    }
    const ticks = processTicks(stat);
    if (Number(pid) === serverPid) server = ticks.own;
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
