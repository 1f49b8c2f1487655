import type { Logger } from '../log/logger.ts';

export type ReadinessOutcome = { ok: boolean; detail?: string };

/** One dependency the server needs to serve traffic (a store reachable, projectors caught up…). */
export type ReadinessCheck = {
  /** Should stop when `signal` aborts, which it does once `timeoutMs` has passed. */
  check: (signal: AbortSignal) => Promise<ReadinessOutcome>;
  timeoutMs?: number;
};

export type ReadinessChecks = Readonly<Record<string, ReadinessCheck>>;

export type ReadinessReport = {
  status: 'ready' | 'not_ready';
  checks: Record<string, ReadinessOutcome & { durationMs: number }>;
};

const defaultCheckTimeoutMs = 2_000;

/**
 * Runs every check concurrently, each bounded by its timeout, so one hung dependency cannot hang the
 * probe. A check that throws is reported as failed with a generic detail: its message could carry a
 * connection string, and /readyz is reachable by anyone who can reach the server.
 */
export async function runReadinessChecks(checks: ReadinessChecks, log: Logger): Promise<ReadinessReport> {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, { check, timeoutMs = defaultCheckTimeoutMs }]) => {
      const started = performance.now();
      const outcome = await runOne(name, check, timeoutMs, log);
      return [name, { ...outcome, durationMs: Math.round(performance.now() - started) }] as const;
    }),
  );
  return {
    status: entries.every(([, outcome]) => outcome.ok) ? 'ready' : 'not_ready',
    checks: Object.fromEntries(entries),
  };
}

async function runOne(
  name: string,
  check: ReadinessCheck['check'],
  timeoutMs: number,
  log: Logger,
): Promise<ReadinessOutcome> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<ReadinessOutcome>((resolve) => {
    timer = setTimeout(() => {
      // Settle first: a check that answers as soon as it is aborted must not win the race.
      resolve({ ok: false, detail: `timed out after ${timeoutMs} ms` });
      controller.abort();
    }, timeoutMs);
  });
  try {
    const outcome = await Promise.race([check(controller.signal), timedOut]);
    if (!outcome.ok) log.warn({ check: name, detail: outcome.detail }, 'readiness check failed');
    return outcome.detail === undefined ? { ok: outcome.ok } : { ok: outcome.ok, detail: outcome.detail };
  } catch (error) {
    log.warn({ check: name, err: error }, 'readiness check threw');
    return { ok: false, detail: 'check failed' };
  } finally {
    clearTimeout(timer);
  }
}
