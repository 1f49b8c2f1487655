import type { Metrics } from '../observability/metrics.ts';
import type { OpenApiDocument } from './openApi.ts';
import { type ReadinessChecks, runReadinessChecks } from './readiness.ts';
import type { Route } from './route.ts';

export type SystemRouteDeps = {
  metrics: Metrics;
  readinessChecks: ReadinessChecks;
  /** Built once from the full route table, which includes these routes: hence a thunk. */
  docs: () => { openApi: OpenApiDocument; html: string };
};

const noStore = { 'cache-control': 'no-store' };

/** Probes, metrics and API documentation, served by every PyTake node. */
export function systemRoutes({ metrics, readinessChecks, docs }: SystemRouteDeps): Route[] {
  return [
    {
      access: 'public',
      method: 'GET',
      path: '/healthz',
      summary: 'Liveness: the process is up',
      response: 'http/health',
      handler: async () => ({ status: 200, headers: noStore, body: { status: 'ok' } }),
    },
    {
      access: 'public',
      method: 'GET',
      path: '/readyz',
      summary: 'Readiness: every dependency answers (503 with the failing checks otherwise)',
      response: 'http/readiness',
      handler: async (req) => {
        const report = await runReadinessChecks(readinessChecks, req.log);
        return { status: report.status === 'ready' ? 200 : 503, headers: noStore, body: report };
      },
    },
    {
      access: 'public',
      method: 'GET',
      path: '/metrics',
      summary: 'Prometheus metrics (text exposition format)',
      handler: async () => ({
        status: 200,
        headers: { ...noStore, 'content-type': metrics.registry.contentType },
        body: await metrics.registry.metrics(),
      }),
    },
    {
      access: 'public',
      method: 'GET',
      path: '/openapi.json',
      summary: 'This API as an OpenAPI 3.1 document',
      handler: async () => ({ status: 200, body: docs().openApi }),
    },
    {
      access: 'public',
      method: 'GET',
      path: '/docs',
      summary: 'A page to browse this API',
      handler: async () => ({
        status: 200,
        headers: {
          'content-type': 'text/html; charset=utf-8',
          // The page is static: no script may run, only its inline style.
          'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'",
        },
        body: docs().html,
      }),
    },
  ];
}
