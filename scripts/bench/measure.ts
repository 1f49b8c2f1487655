/**
 * Small measuring helpers for the benchmarks: concurrent timed loops, percentiles, a wall/CPU meter,
 * a text table.
 */
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

/**
 * Wall time and CPU over a span, in % of one core (a machine has os.cpus().length × 100).
 * `other` (everything but this process and `serverProcess`, plus steal) is the disturbance: CPU
 * that something outside the benchmark took, which makes its figures low. The machine-wide
 * figures come from /proc and are null elsewhere than on Linux.
 */
export type Usage = {
  wallMs: number;
  nodeCpuPct: number;
  serverCpuPct: number | null;
  otherCpuPct: number | null;
  iowaitPct: number | null;
};

type Ticks = { total: number; processes: number; steal: number; iowait: number; server: number };

/** The machine's CPU time so far, in ticks, from the first line of /proc/stat. */
export function machineTicks() {
  // cpu  user nice system idle iowait irq softirq steal (guest time is already inside user)
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = (
    readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? ''
  )
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  return { user, nice, system, idle, iowait, irq, softirq, steal };
}

export type ProcessTicks = { pid: number; name: string; own: number; children: number };

/** utime, stime, cutime, cstime of a /proc/<pid>/stat line (fields 14–17; the name may hold spaces). */
export function parseProcessStat(pid: number, stat: string): ProcessTicks {
  const close = stat.lastIndexOf(')');
  const fields = stat
    .slice(close + 2)
    .split(' ')
    .map(Number);
  const [utime = 0, stime = 0, cutime = 0, cstime = 0] = fields.slice(11, 15);
  return {
    pid,
    name: stat.slice(stat.indexOf('(') + 1, close),
    own: utime + stime,
    children: cutime + cstime,
  };
}

/** Every live process's CPU ticks so far. */
export function* processTicks(): Generator<ProcessTicks> {
  for (const pid of readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))) {
    try {
      yield parseProcessStat(Number(pid), readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      // ended meanwhile
    }
  }
}

function readTicks(serverProcess: string): Ticks | null {
  try {
    const { user, nice, system, idle, iowait, irq, softirq, steal } = machineTicks();
    let server = 0;
    // The parent collects the time of children that ended (Postgres backends): count both.
    for (const process of processTicks())
      if (process.name === serverProcess) server += process.own + process.children;
    // Interrupt time (loopback TCP, mostly) belongs to no process, so `processes` leaves it out.
    const total = user + nice + system + idle + iowait + irq + softirq + steal;
    return { total, processes: user + nice + system, steal, iowait, server };
  } catch {
    return null;
  }
}

/** Starts a meter; the returned function reads it. */
export function startMeter(serverProcess = 'postgres'): () => Usage {
  const wallStart = performance.now();
  const cpuStart = process.cpuUsage();
  const start = readTicks(serverProcess);
  return () => {
    const wallMs = performance.now() - wallStart;
    const cpu = process.cpuUsage(cpuStart);
    const nodeCpuPct = (cpu.user + cpu.system) / 10 / wallMs;
    const end = readTicks(serverProcess);
    if (!start || !end || end.total <= start.total) {
      return { wallMs, nodeCpuPct, serverCpuPct: null, otherCpuPct: null, iowaitPct: null };
    }
    // Ticks → % of one core, without assuming the clock-tick rate.
    const pct = (key: keyof Ticks) =>
      (100 * (end[key] - start[key]) * os.cpus().length) / (end.total - start.total);
    const serverCpuPct = pct('server');
    const otherCpuPct = Math.max(0, pct('processes') - nodeCpuPct - serverCpuPct) + pct('steal');
    return { wallMs, nodeCpuPct, serverCpuPct, otherCpuPct, iowaitPct: pct('iowait') };
  };
}

/**
 * One loop per item, each awaiting `operation(item)` one at a time, until `count` operations are
 * issued or `seconds` have passed. Latencies (ms) come back ascending.
 */
export async function runLoops<Item>(
  items: Item[],
  count: number,
  seconds: number,
  operation: (item: Item) => Promise<unknown>,
): Promise<{ events: number; usage: Usage; latencies: Float64Array }> {
  const latencies = new Float64Array(count);
  let issued = 0;
  let done = 0;
  const deadline = performance.now() + seconds * 1000;
  const meter = startMeter();
  const loop = async (item: Item) => {
    while (issued < count && performance.now() < deadline) {
      issued += 1;
      const start = performance.now();
      await operation(item);
      latencies[done++] = performance.now() - start;
    }
  };
  await Promise.all(items.map(loop));
  const usage = meter();
  return { events: done, usage, latencies: latencies.subarray(0, done).sort() };
}

/** Rounds for display; null and NaN show as a dash. */
export const fixed = (value: number | null | undefined, digits = 0): string =>
  value === null || value === undefined || Number.isNaN(value)
    ? '—'
    : value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** A plain-text table: first column left-aligned, the others right-aligned. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join('  ');
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join('\n');
}
