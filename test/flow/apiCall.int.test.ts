import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it, test } from 'node:test';
import {
  type ApiCallPolicy,
  type ApiRequest,
  parseAllowedHosts,
  performApiCall,
} from '../../src/flow/apiCall.ts';

type Seen = { method: string; url: string; headers: IncomingHttpHeaders; body: string };

const get = (url: string, more: Partial<ApiRequest> = {}): ApiRequest => ({
  method: 'GET',
  url,
  headers: {},
  body: null,
  timeoutMs: 2000,
  ...more,
});

test('performApiCall against a local server', async (t) => {
  const seen: Seen[] = [];
  let connections = 0;
  let streamClosed: () => void = () => {};
  const streamClosedOnServer = new Promise<void>((resolve) => {
    streamClosed = resolve;
  });

  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
    const json = { 'content-type': 'application/json' };
    switch (new URL(req.url ?? '/', 'http://server').pathname) {
      case '/json':
        return res.writeHead(200, json).end('{"hello":"world","n":[1,2]}');
      case '/echo':
        return res.writeHead(200, json).end(JSON.stringify({ method: req.method, body }));
      case '/text':
        return res.writeHead(200, { 'content-type': 'text/plain' }).end('plain words');
      case '/no-content':
        return res.writeHead(204).end();
      case '/empty':
        return res.writeHead(200).end();
      case '/fail':
        return res.writeHead(500, json).end('{"error":"boom"}');
      case '/redirect':
        return res.writeHead(302, { location: '/json' }).end();
      case '/hang':
        return;
      case '/stream': {
        const chunk = Buffer.alloc(16 * 1024, 'x');
        const pump = () => {
          while (!res.destroyed && res.write(chunk)) {}
        };
        res.on('close', streamClosed);
        res.on('drain', pump);
        res.writeHead(200, { 'content-type': 'text/plain' });
        return pump();
      }
      case '/big':
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 1_000_000 });
        return res.write('x');
      default:
        return res.writeHead(404).end();
    }
  });
  server.on('connection', () => {
    connections += 1;
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });

  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  const closed: ApiCallPolicy = { allowedHosts: new Set(), maxResponseBytes: 65536, maxTimeoutMs: 5000 };
  const open: ApiCallPolicy = { ...closed, allowedHosts: new Set([`127.0.0.1:${port}`]) };

  await t.test('refuses private and loopback targets before any connection', async () => {
    for (const [url, error] of [
      [`${origin}/json`, /^refused: 127\.0\.0\.1 is a loopback address$/],
      [`http://localhost:${port}/json`, /^refused: (127\.0\.0\.1|::1) \(localhost\) is a loopback address$/],
      [`http://[::1]:${port}/json`, /^refused: ::1 is a loopback address$/],
      [`http://[::ffff:127.0.0.1]:${port}/json`, /^refused: ::ffff:7f00:1 is a loopback address$/],
      [`http://0.0.0.0:${port}/json`, /^refused: 0\.0\.0\.0 is a "this network" address$/],
      [`http://2130706433:${port}/json`, /^refused: 127\.0\.0\.1 is a loopback address$/],
      ['http://169.254.169.254/latest/meta-data/', /^refused: 169\.254\.169\.254 is a link-local address$/],
    ] as const) {
      const outcome = await performApiCall(get(url), closed);
      assert.equal(outcome.ok, false, url);
      assert.equal(outcome.status, null, url);
      assert.match(outcome.ok ? '' : outcome.error, error);
    }
    const otherPort = { ...closed, allowedHosts: new Set([`127.0.0.1:${port + 1}`, `localhost:${port}`]) };
    const outcome = await performApiCall(get(`${origin}/json`), otherPort);
    assert.deepEqual(outcome, { ok: false, status: null, error: 'refused: 127.0.0.1 is a loopback address' });
    assert.equal(connections, 0);
    assert.equal(seen.length, 0);
  });

  await t.test('reaches an allowed host:port and parses JSON', async () => {
    const outcome = await performApiCall(get(`${origin}/json`), open);
    assert.deepEqual(outcome, { ok: true, status: 200, body: { hello: 'world', n: [1, 2] } });
  });

  await t.test('an allowed host name is matched as written, then resolved normally', async () => {
    const byName = { ...closed, allowedHosts: parseAllowedHosts(`LOCALHOST:${port}`) };
    const outcome = await performApiCall(get(`http://localhost:${port}/json`), byName);
    assert.deepEqual(outcome, { ok: true, status: 200, body: { hello: 'world', n: [1, 2] } });
  });

  await t.test('sends the body and only the flow’s own headers', async () => {
    const outcome = await performApiCall(
      {
        method: 'POST',
        url: `${origin}/echo?x=1`,
        headers: {
          'X-Api-Key': 'tenant-key',
          Authorization: 'Bearer tenant-token',
          Host: 'metadata.internal',
          Connection: 'upgrade',
          Upgrade: 'websocket',
          'Transfer-Encoding': 'chunked',
          'Content-Length': '1',
          'Proxy-Authorization': 'Basic eA==',
        },
        body: '{"a":"é"}',
        timeoutMs: 2000,
      },
      open,
    );
    assert.deepEqual(outcome, { ok: true, status: 200, body: { method: 'POST', body: '{"a":"é"}' } });
    const request = seen.at(-1);
    assert.equal(request?.url, '/echo?x=1');
    assert.deepEqual(request?.headers, {
      host: `127.0.0.1:${port}`,
      connection: 'close',
      'x-api-key': 'tenant-key',
      authorization: 'Bearer tenant-token',
      'user-agent': 'PyTake-Flow/1',
      'content-type': 'application/json',
      'content-length': '10',
    });
  });

  await t.test('keeps the flow’s content-type and user-agent, and adds no credential', async () => {
    const outcome = await performApiCall(
      {
        method: 'PUT',
        url: `${origin}/echo`,
        headers: { 'content-type': 'text/plain', 'user-agent': 'tenant-bot' },
        body: 'hi',
        timeoutMs: 2000,
      },
      open,
    );
    assert.equal(outcome.ok, true);
    assert.deepEqual(seen.at(-1)?.headers, {
      host: `127.0.0.1:${port}`,
      connection: 'close',
      'content-type': 'text/plain',
      'user-agent': 'tenant-bot',
      'content-length': '2',
    });
  });

  await t.test('turns credentials in the URL into the flow’s own basic auth', async () => {
    const outcome = await performApiCall(get(`http://tenant:p%40ss@127.0.0.1:${port}/echo`), open);
    assert.equal(outcome.ok, true);
    assert.equal(
      seen.at(-1)?.headers.authorization,
      `Basic ${Buffer.from('tenant:p@ss').toString('base64')}`,
    );
  });

  await t.test('returns text and empty bodies as they are', async () => {
    assert.deepEqual(await performApiCall(get(`${origin}/text`), open), {
      ok: true,
      status: 200,
      body: 'plain words',
    });
    assert.deepEqual(await performApiCall(get(`${origin}/no-content`), open), {
      ok: true,
      status: 204,
      body: null,
    });
    assert.deepEqual(await performApiCall(get(`${origin}/empty`), open), {
      ok: true,
      status: 200,
      body: null,
    });
  });

  await t.test('reports a non-2xx answer with its status and body', async () => {
    assert.deepEqual(await performApiCall(get(`${origin}/fail`), open), {
      ok: false,
      status: 500,
      error: 'HTTP 500',
      body: { error: 'boom' },
    });
  });

  await t.test('does not follow a redirect', async () => {
    const before = seen.length;
    assert.deepEqual(await performApiCall(get(`${origin}/redirect`), open), {
      ok: false,
      status: 302,
      error: 'HTTP 302',
      body: null,
    });
    assert.deepEqual(
      seen.slice(before).map((request) => request.url),
      ['/redirect'],
    );
  });

  await t.test('gives up at the deadline, clamped to the policy', async () => {
    assert.deepEqual(await performApiCall(get(`${origin}/hang`, { timeoutMs: 200 }), open), {
      ok: false,
      status: null,
      error: 'timed out after 200 ms',
    });
    const short = { ...open, maxTimeoutMs: 150 };
    assert.deepEqual(await performApiCall(get(`${origin}/hang`, { timeoutMs: 60_000 }), short), {
      ok: false,
      status: null,
      error: 'timed out after 150 ms',
    });
  });

  await t.test('stops reading a body past the cap and closes the socket', async () => {
    assert.deepEqual(await performApiCall(get(`${origin}/stream`), open), {
      ok: false,
      status: null,
      error: 'response larger than 65536 bytes',
    });
    await streamClosedOnServer;
  });

  await t.test('refuses a content-length over the cap without reading', async () => {
    assert.deepEqual(await performApiCall(get(`${origin}/big`), open), {
      ok: false,
      status: null,
      error: 'response larger than 65536 bytes',
    });
  });

  await t.test('refuses header injection and bad header names before connecting', async () => {
    const before = connections;
    const injected = await performApiCall(
      get(`${origin}/json`, { headers: { 'x-a': 'v\r\nx-injected: 1' } }),
      open,
    );
    assert.deepEqual(injected, {
      ok: false,
      status: null,
      error: "refused: header 'x-a' contains CR, LF or NUL",
    });
    const badName = await performApiCall(get(`${origin}/json`, { headers: { 'x a': 'v' } }), open);
    assert.deepEqual(badName, { ok: false, status: null, error: "refused: invalid header name 'x a'" });
    assert.equal(connections, before);
  });

  await t.test('refuses other schemes and malformed URLs', async () => {
    for (const [url, error] of [
      [`ftp://127.0.0.1:${port}/`, 'only http and https'],
      ['file:///etc/passwd', 'only http and https'],
      ['not a url', 'invalid URL'],
      ['http://', 'invalid URL'],
      ['http://exa mple.com/', 'invalid URL'],
    ]) {
      assert.deepEqual(await performApiCall(get(url ?? ''), open), { ok: false, status: null, error }, url);
    }
  });

  await t.test('reports a name that does not resolve', async () => {
    const outcome = await performApiCall(get('http://name.invalid/'), closed);
    assert.equal(outcome.ok, false);
    assert.equal(outcome.status, null);
    assert.match(outcome.ok ? '' : outcome.error, /(ENOTFOUND|EAI_AGAIN).*name\.invalid/);
  });
});

describe('parseAllowedHosts', () => {
  it('reads host:port entries, canonicalising hosts', () => {
    assert.deepEqual(parseAllowedHosts(''), new Set());
    assert.deepEqual(
      parseAllowedHosts(' 127.0.0.1:8080, CRM.Internal:443 ,[::1]:9000,[0:0::1]:9001,,'),
      new Set(['127.0.0.1:8080', 'crm.internal:443', '[::1]:9000', '[::1]:9001']),
    );
  });

  for (const entry of [
    'localhost',
    '127.0.0.1',
    'host:0',
    'host:65536',
    'host:port',
    'host:80:81',
    '::1:80',
    'http://host:80',
    'user@host:80',
    'host:80/path',
    'a b:80',
    '[not-ip]:80',
  ]) {
    it(`refuses '${entry}'`, () => {
      assert.throws(() => parseAllowedHosts(`ok.example:443,${entry}`), {
        message: `FLOW_API_ALLOWED_HOSTS: expected host:port, got '${entry}'`,
      });
    });
  }
});
