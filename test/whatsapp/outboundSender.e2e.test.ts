import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startTestApp, type TestApp } from '../support/app.ts';
import { bodyOf, type FakeGraphApi, startFakeGraphApi } from '../support/fakeGraphApi.ts';
import { statusUpdate, webhookBody } from '../support/metaWebhook.ts';
import {
  orgWithChannel,
  postWebhook,
  type TestChannel,
  typesOf,
  waitForEvents,
  customerWrites as writes,
} from '../support/whatsapp.ts';

const secret = 'platform-app-secret';

describe('outbound sending through the Graph API', { timeout: 180_000 }, () => {
  let graph: FakeGraphApi;
  let t: TestApp;
  let org: TestChannel;
  // Kept across the restart below: the channel's secrets are sealed with keys generated into it.
  const dataDir = mkdtempSync(join(tmpdir(), 'pytake-outbound-'));
  const env = () => ({
    DATA_DIR: dataDir,
    META_APP_SECRET: secret,
    META_GRAPH_URL: graph.url,
    OUTBOUND_RETRY_BASE_MS: '20',
    OUTBOUND_IN_DOUBT_GRACE_SECONDS: '4',
    GRAPH_TIMEOUT_MS: '1500',
  });
  before(async () => {
    graph = await startFakeGraphApi();
    t = await startTestApp('outbound', env());
    org = await orgWithChannel(t, 'sender');
    graph.expectToken(org.phoneNumberId, org.graphToken);
  });
  after(async () => {
    await t?.close();
    await graph?.close();
  });

  const customerWrites = (timestampSeconds?: number) =>
    writes(t, org, secret, timestampSeconds === undefined ? {} : { timestampSeconds });
  const send = (conversationId: string, body: unknown, headers: Record<string, string> = {}) =>
    t.request('POST', `/api/v1/conversations/${conversationId}/messages`, {
      token: org.accessToken,
      body,
      headers,
    });
  const sentCount = (events: { type: string }[]) => events.filter((e) => e.type === 'MessageSent').length;

  it('sends with the channel token and records the wamid Meta gives', async () => {
    const c = await customerWrites();
    const queued = await send(c.id, { type: 'text', text: 'Hi! How can we help?' });
    assert.equal(queued.status, 202, JSON.stringify(queued.body));
    assert.equal(queued.body.status, 'queued');
    const events = await waitForEvents(t.db.url, c.stream, (e) => sentCount(e) === 1);
    const request = graph.requests.find((r) => bodyOf(r).to === c.waId);
    assert.ok(request);
    assert.equal(request.authorization, `Bearer ${org.graphToken}`);
    assert.deepEqual(bodyOf(request).text, { body: 'Hi! How can we help?' });
    assert.equal(bodyOf(request).biz_opaque_callback_data, queued.body.id);
    const sent = events.find((e) => e.type === 'MessageSent');
    assert.equal(sent?.data.messageId, queued.body.id);
    assert.ok(graph.accepted.some((a) => a.waMessageId === sent?.data.waMessageId));
    // Meta's statuses for that wamid then move it forward, and never back.
    const wamid = sent?.data.waMessageId as string;
    const statuses = webhookBody({
      phoneNumberId: org.phoneNumberId,
      statuses: [statusUpdate(wamid, c.waId, 'read'), statusUpdate(wamid, c.waId, 'delivered')],
    });
    assert.equal((await postWebhook(t, statuses, secret)).status, 200);
    const after = await waitForEvents(t.db.url, c.stream, (e) =>
      e.some((x) => x.type === 'MessageStatusUpdated'),
    );
    assert.deepEqual(
      after.filter((e) => e.type === 'MessageStatusUpdated').map((e) => e.data.status),
      ['delivered', 'read'],
    );
  });

  it('sends one conversation in order, the next only after the previous was accepted', async () => {
    const c = await customerWrites();
    const before = graph.requests.length;
    graph.hold();
    const texts = ['one', 'two', 'three', 'four'];
    try {
      for (const text of texts) assert.equal((await send(c.id, { type: 'text', text })).status, 202);
      await graph.waitForRequests(before + 1);
    } finally {
      graph.release();
    }
    await waitForEvents(t.db.url, c.stream, (e) => sentCount(e) === texts.length);
    const mine = graph.accepted.filter((a) => bodyOf(a.request).to === c.waId);
    assert.deepEqual(
      mine.map((a) => (bodyOf(a.request).text as { body: string }).body),
      texts,
    );
    // Each one left only after Meta had accepted the one before.
    for (let i = 1; i < mine.length; i += 1) {
      assert.ok(
        (mine[i]?.request.receivedAt ?? 0) >= (mine[i - 1]?.answeredAt ?? Infinity),
        `message ${i + 1}`,
      );
    }
  });

  it('retries retryable errors with backoff and records permanent ones with Meta code and title', async () => {
    const c = await customerWrites();
    graph.failNext(2, { status: 500, code: 131000 });
    await send(c.id, { type: 'text', text: 'eventually' });
    const retried = await waitForEvents(t.db.url, c.stream, (e) => sentCount(e) === 1);
    assert.deepEqual(typesOf(retried, 'ConversationStarted', 'MessageReceived'), [
      'MessageQueued',
      'MessageSendAttempted',
      'MessageSendDeferred',
      'MessageSendAttempted',
      'MessageSendDeferred',
      'MessageSendAttempted',
      'MessageSent',
    ]);
    assert.equal(retried.find((e) => e.type === 'MessageSendDeferred')?.data.error.code, 131000);

    graph.failNext(1, { status: 400, code: 131026, title: 'Message undeliverable' });
    const failing = await send(c.id, { type: 'text', text: 'never arrives' });
    const failed = await waitForEvents(t.db.url, c.stream, (e) => e.some((x) => x.type === 'MessageFailed'));
    const event = failed.find((e) => e.type === 'MessageFailed');
    assert.equal(event?.data.messageId, failing.body.id);
    assert.equal(event?.data.error.code, 131026);
    assert.equal(event?.data.error.title, 'Message undeliverable');
    // The queue moves on after a failure.
    await send(c.id, { type: 'text', text: 'after the failure' });
    await waitForEvents(t.db.url, c.stream, (e) => sentCount(e) === 2);
  });

  it('refuses a free-form message outside the 24-hour window up front, but sends a template', async () => {
    const c = await customerWrites(Math.floor(Date.now() / 1000) - 25 * 3600);
    const refused = await send(c.id, { type: 'text', text: 'too late' });
    assert.equal(refused.status, 422);
    assert.equal(refused.body.code, 'outside_customer_service_window');
    const template = await send(c.id, {
      type: 'template',
      template: { name: 'follow_up', language: 'en_US' },
    });
    assert.equal(template.status, 202);
    await waitForEvents(t.db.url, c.stream, (e) => sentCount(e) === 1);
    const request = graph.requests.find((r) => bodyOf(r).to === c.waId);
    assert.ok(request);
    assert.deepEqual(bodyOf(request).template, {
      name: 'follow_up',
      language: { code: 'en_US' },
    });
  });

  it('queues and sends a retried request with the same idempotency key once', async () => {
    const c = await customerWrites();
    const first = await send(c.id, { type: 'text', text: 'once' }, { 'idempotency-key': 'client-42' });
    const second = await send(c.id, { type: 'text', text: 'once' }, { 'idempotency-key': 'client-42' });
    assert.equal(first.body.id, second.body.id);
    const events = await waitForEvents(t.db.url, c.stream, (e) => sentCount(e) === 1);
    assert.equal(events.filter((e) => e.type === 'MessageQueued').length, 1);
    assert.equal(graph.requests.filter((r) => bodyOf(r).to === c.waId).length, 1);
  });

  it('refuses agents without permission and conversations of other organizations', async () => {
    const c = await customerWrites();
    const other = await orgWithChannel(t, 'other');
    const foreign = await t.request('POST', `/api/v1/conversations/${c.id}/messages`, {
      token: other.accessToken,
      body: { type: 'text', text: 'not mine' },
    });
    assert.equal(foreign.status, 404);
    const unauthenticated = await t.request('POST', `/api/v1/conversations/${c.id}/resolve`, {});
    assert.equal(unauthenticated.status, 401);
  });

  it('treats a call that timed out as in doubt: a status webhook proves it, else it is sent again after the grace', async () => {
    const c = await customerWrites();
    const proven = await customerWrites();
    const before = graph.requests.length;
    graph.hold();
    let first: { body: { id: string } };
    let second: { body: { id: string } };
    try {
      first = await send(c.id, { type: 'text', text: 'in doubt' });
      second = await send(proven.id, { type: 'text', text: 'proven' });
      await graph.waitForRequests(before + 2);
      // Meta holds both calls past GRAPH_TIMEOUT_MS: it may or may not have them.
      for (const stream of [c.stream, proven.stream]) {
        await waitForEvents(t.db.url, stream, (e) => e.some((x) => x.type === 'MessageSendDeferred'));
      }
    } finally {
      graph.release();
    }
    // Meta tells us it has `proven` (its status names our message id): that one is not sent again.
    const wamid = 'wamid.proven-by-status';
    const proof = webhookBody({
      phoneNumberId: org.phoneNumberId,
      statuses: [statusUpdate(wamid, proven.waId, 'delivered', { callbackData: second.body.id })],
    });
    assert.equal((await postWebhook(t, proof, secret)).status, 200);
    const settled = await waitForEvents(t.db.url, proven.stream, (e) => sentCount(e) === 1);
    assert.equal(settled.find((e) => e.type === 'MessageSent')?.data.waMessageId, wamid);
    // No proof for the other one: after the grace period it is sent again.
    const resent = await waitForEvents(t.db.url, c.stream, (e) => sentCount(e) === 1);
    assert.deepEqual(
      resent.filter((e) => e.type === 'MessageSendAttempted').map((e) => e.data.attempt),
      [1, 2],
    );
    assert.equal(resent.find((e) => e.type === 'MessageSent')?.data.messageId, first.body.id);
    assert.equal(graph.requests.filter((r) => bodyOf(r).to === proven.waId).length, 1);
  });

  it('lets calls in flight finish and record their outcome on a graceful shutdown', async () => {
    const c = await customerWrites();
    const before = graph.requests.length;
    graph.hold();
    await send(c.id, { type: 'text', text: 'just before the deploy' });
    await graph.waitForRequests(before + 1);
    const closing = t.app.close();
    graph.release();
    await closing;
    const events = await waitForEvents(t.db.url, c.stream, (e) => sentCount(e) === 1, 1000);
    assert.equal(events.filter((e) => e.type === 'MessageSendAttempted').length, 1);
    t = await startTestApp('outbound', env(), t.db);
  });
});
