import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type TestContext, test } from 'node:test';
import {
  createGraphClient,
  graphRequestBody,
  type SendOutcome,
  type SendRequest,
} from '../../src/whatsapp/graphClient.ts';
import { bodyOf, startFakeGraphApi } from '../support/fakeGraphApi.ts';

const token = 'EAAG-int-test-secret-token';

const request: SendRequest = {
  phoneNumberId: '106540352242922',
  accessToken: token,
  to: '5511999990000',
  content: { type: 'text', text: 'Olá!' },
};

async function setUp(t: TestContext, timeoutMs = 2_000) {
  const fake = await startFakeGraphApi();
  t.after(() => fake.close());
  const client = createGraphClient({ baseUrl: fake.url, version: 'v23.0', timeoutMs });
  return { fake, client };
}

function failure(outcome: SendOutcome) {
  assert.equal(outcome.ok, false, `expected a failure, got ${JSON.stringify(outcome)}`);
  return outcome as Extract<SendOutcome, { ok: false }>;
}

test('a sent message returns its wamid; the fake saw the exact body and bearer', async (t) => {
  const { fake, client } = await setUp(t);
  fake.expectToken(request.phoneNumberId, token);
  const sent = { ...request, replyTo: 'wamid.inbound1', callbackData: 'outbox:7' };

  const outcome = await client.sendMessage(sent);

  assert.equal(fake.accepted.length, 1);
  assert.deepEqual(outcome, { ok: true, waMessageId: fake.accepted[0]?.waMessageId });
  const [seen] = fake.requests;
  assert.ok(seen);
  assert.equal(seen.version, 'v23.0');
  assert.equal(seen.phoneNumberId, request.phoneNumberId);
  assert.equal(seen.authorization, `Bearer ${token}`);
  assert.deepEqual(seen.body, graphRequestBody(sent));
  assert.deepEqual(bodyOf(seen).context, { message_id: 'wamid.inbound1' });
});

test('every send gets its own wamid', async (t) => {
  const { fake, client } = await setUp(t);
  const outcomes = await Promise.all([client.sendMessage(request), client.sendMessage(request)]);
  const ids = outcomes.map((outcome) => (outcome.ok ? outcome.waMessageId : undefined));
  assert.equal(new Set(ids).size, 2);
  assert.ok(ids.every((id) => id?.startsWith('wamid.')));
  assert.equal(fake.accepted.length, 2);
});

test('400 code 100 is permanent', async (t) => {
  const { client } = await setUp(t);
  const outcome = failure(
    await client.sendMessage({ ...request, content: { type: 'image', media: { url: '' } }, to: '' }),
  );
  assert.equal(outcome.retryable, false);
  assert.equal(outcome.error.code, 100);
  assert.equal(outcome.error.title, 'Invalid parameter');
  assert.equal(outcome.error.details, 'The parameter to is required.');
});

test('131047 is permanent and keeps its code and title', async (t) => {
  const { fake, client } = await setUp(t);
  fake.failNext(1, { status: 400, code: 131047 });
  const outcome = failure(await client.sendMessage(request));
  assert.deepEqual(outcome, {
    ok: false,
    retryable: false,
    error: {
      code: 131047,
      title: 'Re-engagement message',
      message: '(#131047) Re-engagement message',
      details: 'Re-engagement message',
    },
  });
});

test('a wrong token is 401 code 190, permanent', async (t) => {
  const { fake, client } = await setUp(t);
  fake.expectToken(request.phoneNumberId, 'the-right-one');
  const outcome = failure(await client.sendMessage(request));
  assert.equal(outcome.retryable, false);
  assert.equal(outcome.error.code, 190);
});

test('503 is retryable', async (t) => {
  const { fake, client } = await setUp(t);
  fake.failNext(1, { status: 503, code: 131016 });
  const outcome = failure(await client.sendMessage(request));
  assert.equal(outcome.retryable, true);
  assert.equal(outcome.error.code, 131016);
  assert.equal(outcome.retryAfterMs, undefined);
});

test('throughput and pair limits with Retry-After are retryable after that long', async (t) => {
  const { fake, client } = await setUp(t);
  fake.failNext(1, { status: 429, code: 130429, retryAfterSeconds: 2 });
  fake.failNext(1, { status: 400, code: 131056, retryAfterSeconds: 6 });

  const throughput = failure(await client.sendMessage(request));
  assert.deepEqual(
    [throughput.retryable, throughput.error.code, throughput.retryAfterMs],
    [true, 130429, 2_000],
  );
  const pair = failure(await client.sendMessage(request));
  assert.deepEqual([pair.retryable, pair.error.code, pair.retryAfterMs], [true, 131056, 6_000]);
  assert.equal((await client.sendMessage(request)).ok, true);
});

test('a dropped connection is retryable with code 0', async (t) => {
  const { fake, client } = await setUp(t);
  fake.dropNext(1);
  const outcome = failure(await client.sendMessage(request));
  assert.equal(outcome.retryable, true);
  assert.equal(outcome.error.code, 0);
  assert.match(outcome.error.title, /network error/i);
  assert.equal(outcome.inDoubt, true, 'the request reached the server: Meta may have it');
  assert.equal(fake.requests.length, 1);
  assert.equal(fake.accepted.length, 0);
});

test('a slow answer times out, retryable with code 0', async (t) => {
  const { fake, client } = await setUp(t, 100);
  fake.delayNext(1, 30_000);
  const outcome = failure(await client.sendMessage(request));
  assert.deepEqual(outcome.error, { code: 0, title: 'Graph API request timed out after 100 ms' });
  assert.equal(outcome.retryable, true);
  assert.equal(outcome.inDoubt, true);
  assert.equal(fake.accepted.length, 0);
});

test("the caller's signal aborts a send, retryable", async (t) => {
  const { fake, client } = await setUp(t);
  fake.hold();
  const controller = new AbortController();
  const sending = client.sendMessage(request, controller.signal);
  await fake.waitForRequests(1);
  controller.abort();
  const outcome = failure(await sending);
  assert.deepEqual(outcome.error, { code: 0, title: 'Graph API request aborted' });
  assert.equal(outcome.retryable, true);
});

test('held requests are answered in order once released', async (t) => {
  const { fake, client } = await setUp(t);
  fake.hold();
  const first = client.sendMessage({ ...request, content: { type: 'text', text: 'one' } });
  await fake.waitForRequests(1);
  const second = client.sendMessage({ ...request, content: { type: 'text', text: 'two' } });
  await fake.waitForRequests(2);
  assert.equal(fake.accepted.length, 0);
  fake.release();
  assert.equal((await first).ok, true);
  assert.equal((await second).ok, true);
  assert.deepEqual(
    fake.requests.map((seen) => bodyOf(seen).text),
    [{ body: 'one' }, { body: 'two' }],
  );
});

test('an answer that is not Graph JSON is a failure, retryable on 5xx', async (t) => {
  const proxy = createServer((_req, res) => {
    res.writeHead(502, { 'content-type': 'text/html' }).end('<html>Bad gateway</html>');
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => proxy.close(() => resolve())));
  const { port } = proxy.address() as AddressInfo;
  const client = createGraphClient({
    baseUrl: `http://127.0.0.1:${port}/`,
    version: 'v23.0',
    timeoutMs: 2_000,
  });

  const outcome = failure(await client.sendMessage(request));
  assert.deepEqual(outcome, {
    ok: false,
    retryable: true,
    error: { code: 0, title: 'Graph API answered HTTP 502' },
  });
});

test('a refused connection is retryable; a token no header can carry is permanent and not echoed', async () => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const { port } = closed.address() as AddressInfo;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const client = createGraphClient({
    baseUrl: `http://127.0.0.1:${port}`,
    version: 'v23.0',
    timeoutMs: 2_000,
  });

  const refused = failure(await client.sendMessage(request));
  assert.deepEqual(refused.error, {
    code: 0,
    title: 'Network error reaching the Graph API',
    message: 'ECONNREFUSED',
  });
  assert.equal(refused.retryable, true);
  assert.equal(refused.inDoubt, undefined, 'never connected: nothing was sent');

  const badToken = `${token}\r\nx-injected: 1`;
  const unbuildable = failure(await client.sendMessage({ ...request, accessToken: badToken }));
  assert.deepEqual(unbuildable, {
    ok: false,
    retryable: false,
    error: { code: 0, title: 'Graph API request could not be built' },
  });
});

test('the access token appears in no outcome', async (t) => {
  const { fake, client } = await setUp(t, 100);
  const outcomes: SendOutcome[] = [];
  const send = async (overrides: Partial<SendRequest> = {}) =>
    outcomes.push(await client.sendMessage({ ...request, ...overrides }));

  await send();
  fake.failNext(1, { status: 400, code: 131047 });
  await send();
  fake.failNext(1, { status: 429, code: 130429, retryAfterSeconds: 1 });
  await send();
  // Meta does not echo tokens, but should it ever, the outcome must not carry it on.
  fake.failNext(1, { status: 400, code: 100, title: `Invalid token ${token}` });
  await send();
  fake.dropNext(1);
  await send();
  fake.delayNext(1, 30_000);
  await send();
  fake.expectToken(request.phoneNumberId, 'another');
  await send();
  await send({ content: { type: 'text', text: '' }, to: '' });

  assert.equal(outcomes.length, 8);
  assert.ok(outcomes.some((outcome) => !outcome.ok && outcome.error.message?.includes('[redacted]')));
  for (const outcome of outcomes)
    assert.ok(!JSON.stringify(outcome).includes(token), JSON.stringify(outcome));
});
