import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { OpenApiDocument } from '../../src/http/openApi.ts';
import type { Route } from '../../src/http/route.ts';
import { startTestServer } from './testServer.ts';

const routes: Route[] = [
  {
    access: 'public',
    method: 'POST',
    path: '/api/v1/widgets/:id',
    body: 'testing/widget',
    response: 'testing/widget',
    status: 201,
    summary: 'Create a <widget>',
    handler: async (req) => ({ status: 201, body: req.json() }),
  },
  {
    access: 'public',
    method: 'GET',
    path: '/api/v1/widgets/:id',
    handler: async () => ({ status: 200, body: {} }),
  },
];

test('GET /healthz answers while the process is up', async (t) => {
  const { url } = await startTestServer(t, { routes });
  const response = await fetch(url('/healthz'));
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), { status: 'ok' });
});

test('GET /readyz reports every check, 200 when all pass', async (t) => {
  const { url } = await startTestServer(t, {
    routes,
    readinessChecks: { database: { check: async () => ({ ok: true }) } },
  });
  const response = await fetch(url('/readyz'));
  assert.equal(response.status, 200);
  const body = (await response.json()) as { status: string; checks: Record<string, { ok: boolean }> };
  assert.equal(body.status, 'ready');
  assert.equal(body.checks.database?.ok, true);
});

test('GET /readyz answers 503 when a check fails, throws or hangs', async (t) => {
  const { url } = await startTestServer(t, {
    routes,
    readinessChecks: {
      database: { check: async () => ({ ok: true }) },
      projections: { check: async () => ({ ok: false, detail: 'conversations is 5000 events behind' }) },
      redis: {
        check: async () => {
          throw new Error('connect ECONNREFUSED redis://:s3cret@cache:6379');
        },
      },
      eventstore: {
        timeoutMs: 50,
        check: (signal) =>
          new Promise((resolve) => signal.addEventListener('abort', () => resolve({ ok: true }))),
      },
    },
  });
  const response = await fetch(url('/readyz'));
  assert.equal(response.status, 503);
  const text = await response.text();
  assert.doesNotMatch(text, /s3cret/);
  const body = JSON.parse(text) as {
    status: string;
    checks: Record<string, { ok: boolean; detail?: string }>;
  };
  assert.equal(body.status, 'not_ready');
  assert.deepEqual(
    Object.fromEntries(Object.entries(body.checks).map(([name, { ok, detail }]) => [name, { ok, detail }])),
    {
      database: { ok: true, detail: undefined },
      projections: { ok: false, detail: 'conversations is 5000 events behind' },
      redis: { ok: false, detail: 'check failed' },
      eventstore: { ok: false, detail: 'timed out after 50 ms' },
    },
  );
});

test('GET /metrics counts requests by route pattern, per server instance', async (t) => {
  const first = await startTestServer(t, { routes });
  const second = await startTestServer(t, { routes });
  await fetch(first.url('/api/v1/widgets/abc'));
  await fetch(first.url('/api/v1/widgets/def?x=1'));
  await fetch(first.url('/nowhere/at/all'));
  await fetch(second.url('/healthz'));

  const response = await fetch(first.url('/metrics'));
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await response.text();
  assert.match(text, /^http_requests_total\{method="GET",route="\/api\/v1\/widgets\/:id",status="200"\} 2$/m);
  assert.match(text, /^http_requests_total\{method="GET",route="unmatched",status="404"\} 1$/m);
  assert.match(
    text,
    /^http_request_duration_seconds_count\{method="GET",route="\/api\/v1\/widgets\/:id"\} 2$/m,
  );
  assert.match(
    text,
    /^http_request_duration_seconds_bucket\{le="0\.1",method="GET",route="\/api\/v1\/widgets\/:id"\} \d+$/m,
  );
  assert.match(text, /^process_cpu_user_seconds_total /m);
  assert.doesNotMatch(text, /widgets\/abc|nowhere/);
  assert.doesNotMatch(text, /route="\/healthz"/, "the other server's requests leaked into this registry");
});

/** Resolves a local `$ref` (`#/a/b`) against the document, or fails. */
function resolvePointer(document: unknown, reference: string): unknown {
  assert.match(reference, /^#\//, `non-local $ref ${reference}`);
  let node = document;
  for (const token of reference.slice(2).split('/')) {
    const key = token.replace(/~1/g, '/').replace(/~0/g, '~');
    assert.ok(node !== null && typeof node === 'object' && key in node, `dangling $ref ${reference}`);
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

function collectRefs(value: unknown, refs: string[] = []): string[] {
  if (Array.isArray(value)) for (const item of value) collectRefs(item, refs);
  else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      if (key === '$ref' && typeof item === 'string') refs.push(item);
      else collectRefs(item, refs);
    }
  }
  return refs;
}

test('GET /openapi.json describes the route table with the schemas as components', async (t) => {
  const { url } = await startTestServer(t, { routes });
  const response = await fetch(url('/openapi.json'));
  assert.equal(response.status, 200);
  const document = (await response.json()) as OpenApiDocument;
  assert.equal(document.openapi, '3.1.0');
  assert.equal(document.info.title, 'PyTake');

  const create = document.paths['/api/v1/widgets/{id}']?.post;
  assert.ok(create, 'the POST route is missing');
  assert.equal(create.summary, 'Create a <widget>');
  assert.deepEqual(create.parameters, [
    { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
  ]);
  assert.deepEqual(create.requestBody?.content['application/json']?.schema, {
    $ref: '#/components/schemas/testing.widget',
  });
  assert.deepEqual(create.responses['201']?.content?.['application/json']?.schema, {
    $ref: '#/components/schemas/testing.widget',
  });
  assert.deepEqual(create.responses.default?.content?.['application/problem+json']?.schema, {
    $ref: '#/components/schemas/http.problem',
  });
  assert.ok(document.paths['/api/v1/widgets/{id}']?.get);
  for (const path of ['/healthz', '/readyz', '/metrics', '/openapi.json', '/docs']) {
    assert.ok(document.paths[path]?.get, `${path} is missing`);
  }

  const operationIds = Object.values(document.paths).flatMap((operations) =>
    Object.values(operations).map((operation) => operation.operationId),
  );
  assert.equal(new Set(operationIds).size, operationIds.length, 'operationIds must be unique');

  const widget = document.components.schemas['testing.widget'] as Record<string, unknown>;
  assert.equal(widget.$id, undefined);
  assert.ok(document.components.schemas['http.problem']);
  const refs = collectRefs(document);
  assert.ok(refs.includes('#/components/schemas/testing.tag'));
  assert.ok(refs.includes('#/components/schemas/testing.tag/$defs/colour'));
  for (const reference of refs) resolvePointer(document, reference);
});

test('GET /docs lists the operations in a page that needs no network', async (t) => {
  const { url } = await startTestServer(t, { routes });
  const response = await fetch(url('/docs'));
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('content-type'), 'text/html; charset=utf-8');
  assert.match(response.headers.get('content-security-policy') ?? '', /default-src 'none'/);
  const html = await response.text();
  assert.match(html, /\/api\/v1\/widgets\/\{id\}/);
  assert.match(html, /Create a &#60;widget&#62;/);
  assert.match(html, /href="\/openapi.json"/);
  assert.doesNotMatch(html, /<script|https?:\/\/(?!pytake\.dev|json-schema\.org)/);
});
