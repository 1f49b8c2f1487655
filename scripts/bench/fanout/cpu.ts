/**
 * Who used the CPU during a fanout run, in % of one core (os.cpus().length × 100 in all): the
 * server under test (the real one or the bare uWS one), the client process, this process (the
 * webhook driver), Postgres, and everything else. Linux only (/proc): null elsewhere.
 */
import os from 'node:os';
import { machineTicks, processTicks } from '../measure.ts';

export type FanoutCpu = { server: number; clients: number; driver: number; postgres: number; other: number };

type Ticks = {
  total: number;
  busy: number;
  server: number;
  clients: number;
  driver: number;
  postgres: number;
};

function readTicks(pids: { server: number; clients: number }): Ticks {
  const { user, nice, system, idle, iowait, irq, softirq, steal } = machineTicks();
  const ticks = { server: 0, clients: 0, driver: 0, postgres: 0 };
  for (const process_ of processTicks()) {
    if (process_.pid === pids.server) ticks.server = process_.own;
    else if (process_.pid === pids.clients) ticks.clients = process_.own;
    else if (process_.pid === process.pid) ticks.driver = process_.own;
    // The postmaster collects the time of backends that ended (cutime).
    else if (process_.name === 'postgres') ticks.postgres += process_.own + process_.children;
  }
  return {
    total: user + nice + system + idle + iowait + irq + softirq + steal,
    // Interrupt time (loopback TCP, mostly) belongs to no process: it lands in `other`.
    busy: user + nice + system + irq + softirq + steal,
    ...ticks,
  };
}

export function startFanoutMeter(pids: { server: number; clients: number }): () => FanoutCpu | null {
  if (os.platform() !== 'linux') return () => null;
  const start = readTicks(pids);
  return () => {
    const end = readTicks(pids);
    const pct = (key: keyof Ticks) =>
      (100 * (end[key] - start[key]) * os.cpus().length) / Math.max(1, end.total - start.total);
    const split = {
      server: pct('server'),
      clients: pct('clients'),
      driver: pct('driver'),
      postgres: pct('postgres'),
    };
    const known = split.server + split.clients + split.driver + split.postgres;
    return { ...split, other: Math.max(0, pct('busy') - known) };
  };
}
