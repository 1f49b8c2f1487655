import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startTestApp, type TestApp } from '../support/app.ts';
import {
  orgWithChannel,
  type TestChannel,
  typesOf,
  waitForEvents,
  customerWrites as writes,
} from '../support/whatsapp.ts';

const secret = 'commands-app-secret';

describe('agents acting on conversations over HTTP', { timeout: 120_000 }, () => {
  let t: TestApp;
  let org: TestChannel;
  let agent: { id: string; token: string };
  before(async () => {
    t = await startTestApp('conversation_commands', { META_APP_SECRET: secret });
    org = await orgWithChannel(t, 'commands');
    const email = `agent-${randomUUID().slice(0, 8)}@example.com`;
    const created = await t.request('POST', '/api/v1/users', {
      token: org.accessToken,
      body: { email, name: 'Agent Smith', password: 'correct horse battery staple', role: 'agent' },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const login = await t.request('POST', '/api/v1/auth/login', {
      body: { email, password: 'correct horse battery staple' },
    });
    agent = { id: created.body.id, token: login.body.accessToken };
  });
  after(async () => {
    await t?.close();
  });

  const customerWrites = (waId?: string, text?: string) =>
    writes(t, org, secret, {
      ...(waId === undefined ? {} : { waId }),
      ...(text === undefined ? {} : { text }),
    });
  const act = (id: string, action: string, body: unknown = {}, token = org.accessToken) =>
    t.request('POST', `/api/v1/conversations/${id}/${action}`, { token, body });

  it('resolves, reopens and marks pending, answering the same for a repeat', async () => {
    const c = await customerWrites();
    const resolved = await act(c.id, 'resolve');
    assert.equal(resolved.status, 200);
    assert.match(resolved.body.position, /^\d+$/);
    assert.equal((await act(c.id, 'resolve')).body.position, null, 'nothing changes the second time');
    assert.equal((await act(c.id, 'reopen')).status, 200);
    assert.equal((await act(c.id, 'pending')).status, 200);
    const events = await waitForEvents(t.db.url, c.stream, (e) => e.length >= 5);
    assert.deepEqual(typesOf(events), [
      'ConversationStarted',
      'MessageReceived',
      'ConversationResolved',
      'ConversationReopened',
      'ConversationMarkedPending',
    ]);
  });

  it('reopens a resolved conversation when the customer writes again', async () => {
    const c = await customerWrites();
    await act(c.id, 'resolve');
    await customerWrites(c.waId, 'one more thing');
    const events = await waitForEvents(t.db.url, c.stream, (e) => e.length >= 5);
    assert.deepEqual(typesOf(events).slice(2), [
      'ConversationResolved',
      'ConversationReopened',
      'MessageReceived',
    ]);
    assert.equal(events[3]?.data.reason, 'customer_message');
  });

  it('snoozes until a time and wakes the conversation up then', async () => {
    const c = await customerWrites();
    const past = await act(c.id, 'snooze', { until: new Date(Date.now() - 1000).toISOString() });
    assert.equal(past.status, 422);
    const leapSecond = await act(c.id, 'snooze', { until: '2030-12-31T23:59:60Z' });
    assert.equal(leapSecond.status, 422);
    assert.equal(leapSecond.body.errors[0].path, '/until');
    const longKey = await t.request('POST', `/api/v1/conversations/${c.id}/messages`, {
      token: org.accessToken,
      body: { type: 'text', text: 'hi' },
      headers: { 'idempotency-key': 'k'.repeat(201) },
    });
    assert.equal(longKey.status, 422);
    const until = new Date(Date.now() + 1500).toISOString();
    assert.equal((await act(c.id, 'snooze', { until })).status, 200);
    const events = await waitForEvents(t.db.url, c.stream, (e) =>
      e.some((x) => x.type === 'ConversationReopened'),
    );
    assert.deepEqual(events.at(-1)?.data, { reason: 'snooze_ended', by: null });
    assert.equal(events.at(-2)?.data.until, until);
  });

  it('assigns to users and queues of the organization only, and keeps notes and labels', async () => {
    const c = await customerWrites();
    const queue = await t.request('POST', '/api/v1/queues', {
      token: org.accessToken,
      body: { name: `Sales ${randomUUID().slice(0, 4)}`, agentIds: [agent.id] },
    });
    assert.equal(queue.status, 201, JSON.stringify(queue.body));
    assert.equal((await act(c.id, 'assign', { assigneeId: randomUUID() })).status, 422);
    assert.equal((await act(c.id, 'assign', {})).status, 422);
    assert.equal((await act(c.id, 'assign', { queueId: queue.body.id })).status, 200);
    assert.equal((await act(c.id, 'assign', { assigneeId: agent.id })).status, 200);
    assert.equal((await act(c.id, 'notes', { text: 'VIP customer, be nice' })).status, 200);
    assert.equal((await act(c.id, 'labels', { label: 'billing' })).status, 200);
    const removed = await t.request('DELETE', `/api/v1/conversations/${c.id}/labels/billing`, {
      token: org.accessToken,
    });
    assert.equal(removed.status, 200);
    const events = await waitForEvents(t.db.url, c.stream, (e) => e.some((x) => x.type === 'LabelRemoved'));
    const assigned = events.filter((e) => e.type === 'ConversationAssigned').map((e) => e.data);
    assert.deepEqual(assigned, [
      { assigneeId: null, queueId: queue.body.id, by: org.userId },
      { assigneeId: agent.id, queueId: queue.body.id, by: org.userId },
    ]);
    assert.equal(events.find((e) => e.type === 'NoteAdded')?.data.text, 'VIP customer, be nice');
  });

  it("lets an agent without conversations.read_unassigned act only on their own and their queues' conversations", async () => {
    const c = await customerWrites();
    assert.equal((await act(c.id, 'notes', { text: 'peek' }, agent.token)).status, 404);
    const replied = await t.request('POST', `/api/v1/conversations/${c.id}/messages`, {
      token: agent.token,
      body: { type: 'text', text: 'hi' },
    });
    assert.equal(replied.status, 404);
    await act(c.id, 'assign', { assigneeId: agent.id });
    assert.equal((await act(c.id, 'notes', { text: 'mine now' }, agent.token)).status, 200);
    // Agents may not assign without the permission? They hold conversations.assign: they can hand it on.
    const other = await customerWrites();
    const queue = await t.request('POST', '/api/v1/queues', {
      token: org.accessToken,
      body: { name: `Support ${randomUUID().slice(0, 4)}`, agentIds: [agent.id] },
    });
    await act(other.id, 'assign', { queueId: queue.body.id });
    assert.equal(
      (await act(other.id, 'resolve', {}, agent.token)).status,
      200,
      'a conversation of their queue',
    );
  });

  it('answers 404 for conversations that do not exist or belong to another organization', async () => {
    const c = await customerWrites();
    const stranger = await orgWithChannel(t, 'stranger');
    assert.equal((await act(c.id, 'resolve', {}, stranger.accessToken)).status, 404);
    assert.equal((await act(randomUUID(), 'resolve')).status, 404);
    assert.equal((await act('not-a-uuid', 'resolve')).status, 404);
  });
});
