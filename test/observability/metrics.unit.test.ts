import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Counter, register as globalRegistry } from 'prom-client';
import { createMetrics } from '../../src/observability/metrics.ts';

test('each instance has its own registry, so several servers can share a process', async () => {
  const first = createMetrics();
  const second = createMetrics();
  first.http.requestsTotal.inc({ method: 'GET', route: '/a', status: '200' });
  assert.match(
    await first.registry.metrics(),
    /^http_requests_total\{method="GET",route="\/a",status="200"\} 1$/m,
  );
  assert.doesNotMatch(await second.registry.metrics(), /route="\/a"/);
  assert.equal(await globalRegistry.getSingleMetric('http_requests_total'), undefined);
});

test('exposes default Node metrics and the HTTP metrics, and takes metrics from other modules', async () => {
  const metrics = createMetrics();
  new Counter({ name: 'actors_activated_total', help: 'test', registers: [metrics.registry] });
  const names = (await metrics.registry.getMetricsAsJSON()).map((metric) => metric.name);
  for (const name of [
    'http_requests_total',
    'http_request_duration_seconds',
    'http_requests_in_flight',
    'process_cpu_user_seconds_total',
    'nodejs_eventloop_lag_seconds',
    'actors_activated_total',
  ]) {
    assert.ok(names.includes(name), `${name} is missing`);
  }
});
