import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AppError } from '../../src/errors/catalogue.ts';
import type { Route } from '../../src/http/route.ts';
import { RawConnection } from './rawHttp.ts';
import { startTestServer } from './testServer.ts';

const limit = 4096;
let widgetHandlerCalls = 0;

const routes: Route[] = [
  {
    access: 'public',
    method: 'POST',
    path: '/api/v1/widgets/:id',
    body: 'testing/widget',
    status: 201,
    handler: async (req) => {
      widgetHandlerCalls += 1;
      const widget = req.json<{ name: string }>();
      return {
        status: 201,
        body: { id: req.params.id, widget, rawBytes: req.rawBody().length, q: req.query.get('q') },
      };
    },
  },
  {
    access: 'public',
    method: 'GET',
    path: '/api/v1/widgets/:id',
    handler: async (req) => {
      // Yield a few turns so concurrent requests interleave.
      for (let turn = Number(req.query.get('turns') ?? 0); turn > 0; turn -= 1) {
        await new Promise((resolve) => setImmediate(resolve));
      }
      return { status: 200, body: { id: req.params.id, requestId: req.requestId } };
    },
  },
  {
    access: 'public',
    method: 'POST',
    path: '/raw',
    handler: async (req) => ({
      status: 200,
      headers: { 'content-type': 'application/octet-stream' },
      body: req.rawBody(),
    }),
  },
  {
    access: 'public',
    method: 'GET',
    path: '/text',
    handler: async () => ({ status: 200, body: 'plain words' }),
  },
  { access: 'public', method: 'DELETE', path: '/api/v1/widgets/:id', handler: async () => ({ status: 204 }) },
  {
    access: 'public',
    method: 'GET',
    path: '/boom',
    handler: async () => {
      throw new Error('cannot connect to postgres://app:hunter2@db/pytake');
    },
  },
  {
    access: 'public',
    method: 'GET',
    path: '/unsendable/:what',
    handler: async (req) => {
      if (req.params.what === 'header')
        throw new AppError('service.unavailable', 'x', [], { 'x-a': 'b\r\nc: d' });
      return { status: 200, body: { big: 1n } };
    },
  },
  {
    access: 'public',
    method: 'GET',
    path: '/busy',
    handler: async () => {
      throw new AppError('service.unavailable', 'Try again shortly', [], { 'Retry-After': '7' });
    },
  },
];

const json = (body: unknown) => ({
  access: 'public',
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

type Problem = {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  errors?: { path: string; message: string }[];
  requestId: string;
};

async function problem(response: Response, status: number, code: string): Promise<Problem> {
  assert.equal(response.status, status);
  assert.equal(response.headers.get('content-type'), 'application/problem+json');
  const body = (await response.json()) as Problem;
  assert.equal(body.code, code);
  assert.equal(body.status, status);
  assert.equal(body.type, `https://pytake.dev/errors/${code}`);
  assert.equal(body.requestId, response.headers.get('x-request-id'));
  return body;
}

test('http server', async (t) => {
  const { url, port, logs } = await startTestServer(t, {
    routes,
    env: { HTTP_BODY_LIMIT_BYTES: String(limit) },
  });

  await t.test('passes params, query, the validated body and its raw bytes to the handler', async () => {
    const response = await fetch(url('/api/v1/widgets/w%201?q=yes'), json({ name: 'bolt', size: 3 }));
    assert.equal(response.status, 201);
    assert.deepEqual(await response.json(), {
      id: 'w 1',
      widget: { name: 'bolt', size: 3 },
      rawBytes: JSON.stringify({ name: 'bolt', size: 3 }).length,
      q: 'yes',
    });
  });

  await t.test('gives the handler the exact bytes received', async () => {
    const bytes = Buffer.from([0, 1, 2, 254, 255, 13, 10]);
    const response = await fetch(url('/raw'), { method: 'POST', body: bytes });
    assert.equal(response.status, 200);
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), bytes);
  });

  await t.test('sends strings as text and 204 without a body', async () => {
    const text = await fetch(url('/text'));
    assert.equal(text.headers.get('content-type'), 'text/plain; charset=utf-8');
    assert.equal(await text.text(), 'plain words');
    const deleted = await fetch(url('/api/v1/widgets/1'), { method: 'DELETE' });
    assert.equal(deleted.status, 204);
    assert.equal(await deleted.text(), '');
  });

  await t.test('refuses a body whose Content-Length exceeds the limit from the head alone', async () => {
    const connection = await RawConnection.open(port);
    await connection.write(
      'POST /api/v1/widgets/1 HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n' +
        `Content-Length: ${limit * 1000}\r\n\r\n`,
    );
    const response = await connection.readResponse();
    assert.equal(response.status, 413);
    assert.equal(response.headers.connection, 'close');
    assert.equal((JSON.parse(response.body) as Problem).code, 'http.body_too_large');
    await connection.closed;
  });

  await t.test('answers a chunked body as soon as it passes the limit, then hangs up', async () => {
    const connection = await RawConnection.open(port);
    await connection.write('POST /raw HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n');
    // Past the limit, but never finished: only a server that stops reading there can answer.
    for (let sent = 0; sent <= limit + 1024; sent += 1024) {
      await connection.write(`400\r\n${'x'.repeat(1024)}\r\n`);
    }
    const response = await connection.readResponse();
    assert.equal(response.status, 413);
    assert.equal(response.headers.connection, 'close');
    assert.equal((JSON.parse(response.body) as Problem).code, 'http.body_too_large');
    await connection.closed;
  });

  await t.test('refuses a JSON route body with a wrong or missing content type (415)', async () => {
    const body = JSON.stringify({ name: 'bolt', size: 3 });
    const wrong = await fetch(url('/api/v1/widgets/1'), {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body,
    });
    assert.match((await problem(wrong, 415, 'http.unsupported_media_type')).detail, /text\/plain/);
    const missing = await fetch(url('/api/v1/widgets/1'), { method: 'POST', body: Buffer.from(body) });
    await problem(missing, 415, 'http.unsupported_media_type');
  });

  await t.test('refuses malformed JSON (400)', async () => {
    for (const body of ['{"name": "bolt",', '', Buffer.from([0x7b, 0xff, 0x7d])]) {
      const response = await fetch(url('/api/v1/widgets/1'), {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8' },
        body,
      });
      await problem(response, 400, 'http.malformed_json');
    }
  });

  await t.test('refuses a body that breaks its schema (422) with a JSON pointer per error', async () => {
    const response = await fetch(
      url('/api/v1/widgets/1'),
      json({ name: '', size: 0, tags: ['ok', 'far-too-long-a-tag'], colour: 'mauve', extra: true }),
    );
    const body = await problem(response, 422, 'http.validation_failed');
    assert.deepEqual(body.errors?.map((error) => error.path).sort(), [
      '/colour',
      '/extra',
      '/name',
      '/size',
      '/tags/1',
    ]);
    const missing = await problem(
      await fetch(url('/api/v1/widgets/1'), json({})),
      422,
      'http.validation_failed',
    );
    assert.deepEqual(missing.errors?.map((error) => error.path).sort(), ['/name', '/size']);
  });

  await t.test('answers 404 for an unknown route and 405 with Allow for a wrong method', async () => {
    await problem(await fetch(url('/api/v1/nothing-here')), 404, 'http.not_found');
    const wrong = await fetch(url('/api/v1/widgets/1'), { method: 'PUT', body: '{}' });
    await problem(wrong, 405, 'http.method_not_allowed');
    assert.equal(wrong.headers.get('allow'), 'DELETE, GET, HEAD, POST');
  });

  await t.test('answers HEAD on a GET route without a body, keeping the connection usable', async () => {
    const connection = await RawConnection.open(port);
    t.after(() => connection.destroy());
    await connection.write(
      'HEAD /text HTTP/1.1\r\nHost: test\r\n\r\nGET /text HTTP/1.1\r\nHost: test\r\n\r\n',
    );
    const head = await connection.readResponse({ head: true });
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    const get = await connection.readResponse();
    assert.equal(get.body, 'plain words');
  });

  await t.test('hides an unexpected error behind a generic 500 and logs its stack', async () => {
    const response = await fetch(url('/boom'));
    const text = await response.clone().text();
    const body = await problem(response, 500, 'internal.unexpected');
    assert.doesNotMatch(text, /hunter2|postgres|stack|\bat\s/);
    assert.match(body.detail, /request id/);
    const logged = await logs.waitFor((line) => line.requestId === body.requestId && line.level === 50);
    assert.match(String((logged.err as { stack: string }).stack), /hunter2[\s\S]*httpServer\.e2e\.test\.ts/);
  });

  await t.test('answers 500 when a result or an error cannot be sent as given', async () => {
    for (const what of ['header', 'body']) {
      const response = await fetch(url(`/unsendable/${what}`));
      await problem(response, 500, 'internal.unexpected');
      assert.equal(response.headers.get('x-a'), null);
    }
  });

  await t.test("sends an AppError's headers", async () => {
    const response = await fetch(url('/busy'));
    const body = await problem(response, 503, 'service.unavailable');
    assert.equal(response.headers.get('retry-after'), '7');
    assert.equal(body.detail, 'Try again shortly');
  });

  await t.test(
    'keeps a well-formed x-request-id, replaces others, and logs one access line with it',
    async () => {
      const kept = await fetch(url('/api/v1/widgets/7?secret=query'), {
        headers: { 'x-request-id': 'trace-abc.123' },
      });
      assert.equal(kept.headers.get('x-request-id'), 'trace-abc.123');
      assert.equal(((await kept.json()) as { requestId: string }).requestId, 'trace-abc.123');
      const access = await logs.waitFor(
        (line) => line.requestId === 'trace-abc.123' && line.msg === 'request completed',
      );
      assert.equal(access.method, 'GET');
      assert.equal(access.path, '/api/v1/widgets/7');
      assert.equal(access.route, '/api/v1/widgets/:id');
      assert.equal(access.status, 200);
      assert.equal(typeof access.durationMs, 'number');
      assert.equal(logs.lines.filter((line) => line.requestId === 'trace-abc.123').length, 1);

      for (const bad of ['has spaces', 'x'.repeat(129), 'line\tbreak']) {
        const replaced = await fetch(url('/healthz'), { headers: { 'x-request-id': bad } });
        assert.match(replaced.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
      }
    },
  );

  await t.test('survives a client that disconnects mid-body, leaking nothing', async () => {
    const callsBefore = widgetHandlerCalls;
    const connection = await RawConnection.open(port);
    await connection.write(
      'POST /api/v1/widgets/gone HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n' +
        `Content-Length: 1000\r\nX-Request-Id: half-body\r\n\r\n{"name": "${'x'.repeat(400)}`,
    );
    // Wait until the server holds the request (in flight: it and this metrics request), then vanish.
    while (!/^http_requests_in_flight 2$/m.test(await (await fetch(url('/metrics'))).text()));
    connection.destroy();
    const gone = await logs.waitFor((line) => line.requestId === 'half-body');
    assert.equal(gone.status, 499);
    assert.equal(widgetHandlerCalls, callsBefore);
    assert.match(await (await fetch(url('/metrics'))).text(), /^http_requests_in_flight 1$/m);
    assert.equal((await fetch(url('/healthz'))).status, 200);
  });

  await t.test('serves concurrent requests, each with its own answer', async () => {
    const responses = await Promise.all(
      Array.from({ length: 100 }, (_, index) =>
        fetch(url(`/api/v1/widgets/${index}?turns=${index % 7}`), {
          headers: { 'x-request-id': `concurrent-${index}` },
        }),
      ),
    );
    for (const [index, response] of responses.entries()) {
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('x-request-id'), `concurrent-${index}`);
      assert.deepEqual(await response.json(), { id: String(index), requestId: `concurrent-${index}` });
    }
  });
});
