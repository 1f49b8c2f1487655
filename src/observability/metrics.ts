import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * One Prometheus registry per server instance, never prom-client's global one, so that tests can run
 * several servers in one process. Other capabilities register their own metrics on `registry`.
 */
export type Metrics = {
  readonly registry: Registry;
  readonly http: {
    readonly requestsTotal: Counter<'method' | 'route' | 'status'>;
    readonly requestDuration: Histogram<'method' | 'route'>;
    readonly requestsInFlight: Gauge;
  };
};

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    http: {
      requestsTotal: new Counter({
        name: 'http_requests_total',
        help: 'HTTP requests answered, by method, route pattern and status',
        labelNames: ['method', 'route', 'status'],
        registers: [registry],
      }),
      requestDuration: new Histogram({
        name: 'http_request_duration_seconds',
        help: 'Time from request head to response written, by method and route pattern',
        labelNames: ['method', 'route'],
        buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
        registers: [registry],
      }),
      requestsInFlight: new Gauge({
        name: 'http_requests_in_flight',
        help: 'HTTP requests received whose handling has not finished yet',
        registers: [registry],
      }),
    },
  };
}
