import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runReadinessChecks } from '../../src/http/readiness.ts';
import { createLogger } from '../../src/log/logger.ts';

const log = createLogger('silent');

test('is ready when every check passes, and with no checks at all', async () => {
  assert.deepEqual(await runReadinessChecks({}, log), { status: 'ready', checks: {} });
  const report = await runReadinessChecks({ a: { check: async () => ({ ok: true, detail: 'lag 0' }) } }, log);
  assert.equal(report.status, 'ready');
  assert.equal(report.checks.a?.detail, 'lag 0');
  assert.equal(typeof report.checks.a?.durationMs, 'number');
});

test('runs checks concurrently and bounds each by its timeout, aborting it', async () => {
  let aborted = false;
  const started = performance.now();
  const report = await runReadinessChecks(
    {
      hung: {
        timeoutMs: 30,
        check: (signal) =>
          new Promise((resolve) => {
            signal.addEventListener('abort', () => {
              aborted = true;
              resolve({ ok: true });
            });
          }),
      },
      alsoHung: { timeoutMs: 30, check: () => new Promise(() => {}) },
    },
    log,
  );
  assert.ok(performance.now() - started < 1_000);
  assert.equal(aborted, true);
  assert.equal(report.status, 'not_ready');
  assert.equal(report.checks.hung?.detail, 'timed out after 30 ms');
  assert.equal(report.checks.alsoHung?.detail, 'timed out after 30 ms');
});

test('reports a throwing check as failed without its message', async () => {
  const report = await runReadinessChecks(
    {
      ok: { check: async () => ({ ok: true }) },
      broken: {
        check: async () => {
          throw new Error('password authentication failed for user "app" at postgres://app:pw@db');
        },
      },
    },
    log,
  );
  assert.equal(report.status, 'not_ready');
  assert.deepEqual(
    { ok: report.checks.broken?.ok, detail: report.checks.broken?.detail },
    { ok: false, detail: 'check failed' },
  );
  assert.equal(report.checks.ok?.ok, true);
});
