import assert from 'node:assert/strict';
import { randomInt, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { conversationIdFor } from '../../src/conversation/conversationActor.ts';
import { SchemaRegistry } from '../../src/schemas/schemaRegistry.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { type FakeGraphApi, startFakeGraphApi } from '../support/fakeGraphApi.ts';
import { statusUpdate, textMessage, webhookBody } from '../support/metaWebhook.ts';
import { ok } from '../support/schemaResponse.ts';
import { orgWithChannel, postWebhook, type TestChannel } from '../support/whatsapp.ts';

const secret = 'read-models-app-secret';
const password = 'correct horse battery staple';
const registry = new SchemaRegistry();

/** Retries `check` until it stops throwing: the read models follow the event store shortly after. */
async function eventually<T>(check: () => Promise<T>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

describe('conversation and contact read models over HTTP', { timeout: 240_000 }, () => {
  let graph: FakeGraphApi;
  let t: TestApp;
  let org: TestChannel;
  let stranger: TestChannel;
  let agent: { id: string; token: string };
  let viewer: { id: string; token: string };
  let queueId: string;

  const userWith = async (role: string) => {
    const email = `${role}-${randomUUID().slice(0, 8)}@example.com`;
    const created = await t.request('POST', '/api/v1/users', {
      token: org.accessToken,
      body: { email, name: `A ${role}`, password, role },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const login = await t.request('POST', '/api/v1/auth/login', { body: { email, password } });
    return { id: created.body.id as string, token: login.body.accessToken as string };
  };

  before(async () => {
    graph = await startFakeGraphApi();
    t = await startTestApp('read_models', {
      META_APP_SECRET: secret,
      META_GRAPH_URL: graph.url,
      OUTBOUND_RETRY_BASE_MS: '20',
    });
    org = await orgWithChannel(t, 'reader');
    stranger = await orgWithChannel(t, 'stranger');
    agent = await userWith('agent');
    viewer = await userWith('viewer');
    const queue = await t.request('POST', '/api/v1/queues', {
      token: org.accessToken,
      body: { name: 'Support', agentIds: [agent.id] },
    });
    assert.equal(queue.status, 201);
    queueId = queue.body.id;
  });
  after(async () => {
    await t?.close();
    await graph?.close();
  });

  const get = (path: string, token = org.accessToken) => t.request('GET', path, { token });
  const act = (id: string, action: string, body: unknown = {}, token = org.accessToken) =>
    t.request('POST', `/api/v1/conversations/${id}/${action}`, { token, body });

  /** A customer writes (with a WhatsApp profile name when given); answers the conversation's id. */
  const customerWrites = async (
    channel: TestChannel,
    options: { waId?: string; name?: string; text?: string } = {},
  ) => {
    const waId = options.waId ?? `1555${randomInt(1e6, 9e6)}`;
    const body = webhookBody({
      phoneNumberId: channel.phoneNumberId,
      ...(options.name === undefined ? {} : { contacts: [{ waId, name: options.name }] }),
      messages: [textMessage(waId, `wamid.${randomUUID()}`, options.text ?? 'hello')],
    });
    assert.equal((await postWebhook(t, body, secret)).status, 200);
    return { waId, id: conversationIdFor(channel.organizationId, channel.channelId, waId) };
  };

  /** The conversation as GET /conversations/:id shows it, once `done` holds. */
  const conversationWhen = (
    id: string,
    // biome-ignore lint/suspicious/noExplicitAny: tests read JSON bodies field by field
    done: (conversation: any) => boolean,
    token = org.accessToken,
  ) =>
    eventually(async () => {
      const conversation = ok(await get(`/api/v1/conversations/${id}`, token), 'api/conversation');
      assert.ok(done(conversation), JSON.stringify(conversation));
      return conversation;
    });

  /** Every page of a list, following nextCursor. */
  const allPages = async (path: string, limit: number, token = org.accessToken) => {
    const items = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const separator = path.includes('?') ? '&' : '?';
      const url: string = `${path}${separator}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`;
      const page = ok(await get(url, token), 'api/conversationList');
      assert.ok(page.items.length <= limit);
      items.push(...page.items);
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor !== null);
    return { items, pages };
  };

  it('lists the inbox newest activity first, through every filter, page by page without gaps or repeats', async () => {
    const other = await orgWithChannel(t, 'inbox');
    const conversations = [];
    for (let i = 0; i < 7; i += 1) conversations.push(await customerWrites(other));
    const [c0, c1, c2, c3, c4, c5, c6] = conversations.map((c) => c.id) as string[];
    await conversationWhen(c6 as string, () => true, other.accessToken);

    // The oldest conversation gets a new message: it moves to the top.
    await customerWrites(other, { waId: conversations[0]?.waId as string, text: 'still there?' });
    await conversationWhen(c0 as string, (c) => c.unreadCount === 2, other.accessToken);
    const all = ok(await get('/api/v1/conversations', other.accessToken), 'api/conversationList');
    assert.deepEqual(
      all.items.map((c: { id: string }) => c.id),
      [c0, c6, c5, c4, c3, c2, c1],
    );
    assert.equal(all.nextCursor, null);
    assert.equal(all.items[0].lastMessage.text, 'still there?');
    assert.equal(all.items[0].lastMessage.direction, 'in');

    const otherAgent = await (async () => {
      const email = `agent-${randomUUID().slice(0, 8)}@example.com`;
      const created = await t.request('POST', '/api/v1/users', {
        token: other.accessToken,
        body: { email, name: 'Inbox agent', password, role: 'agent' },
      });
      return created.body.id as string;
    })();
    const queue = await t.request('POST', '/api/v1/queues', {
      token: other.accessToken,
      body: { name: 'Billing', agentIds: [] },
    });
    const tokenOf = other.accessToken;
    assert.equal((await act(c1 as string, 'resolve', {}, tokenOf)).status, 200);
    assert.equal((await act(c2 as string, 'pending', {}, tokenOf)).status, 200);
    const until = new Date(Date.now() + 3_600_000).toISOString();
    assert.equal((await act(c3 as string, 'snooze', { until }, tokenOf)).status, 200);
    assert.equal((await act(c4 as string, 'assign', { assigneeId: otherAgent }, tokenOf)).status, 200);
    assert.equal((await act(c5 as string, 'assign', { queueId: queue.body.id }, tokenOf)).status, 200);
    assert.equal((await act(c6 as string, 'assign', { assigneeId: other.userId }, tokenOf)).status, 200);
    await conversationWhen(c6 as string, (c) => c.assigneeId === other.userId, tokenOf);
    await conversationWhen(c5 as string, (c) => c.queueId === queue.body.id, tokenOf);
    await conversationWhen(c4 as string, (c) => c.assigneeId === otherAgent, tokenOf);
    const snoozed = await conversationWhen(c3 as string, (c) => c.status === 'snoozed', tokenOf);
    assert.equal(snoozed.snoozedUntil, until);
    await conversationWhen(c2 as string, (c) => c.status === 'pending', tokenOf);
    await conversationWhen(c1 as string, (c) => c.status === 'resolved', tokenOf);

    const ids = async (query: string) =>
      (await allPages(`/api/v1/conversations?${query}`, 2, tokenOf)).items.map((c: { id: string }) => c.id);
    // Status changes count as activity: resolving, marking pending and snoozing moved those up.
    assert.deepEqual(await ids(''), [c3, c2, c1, c0, c6, c5, c4]);
    assert.deepEqual(await ids('status=open'), [c0, c6, c5, c4]);
    assert.deepEqual(await ids('status=resolved'), [c1]);
    assert.deepEqual(await ids('status=pending'), [c2]);
    assert.deepEqual(await ids('status=snoozed'), [c3]);
    assert.deepEqual(await ids('assignee=me'), [c6]);
    assert.deepEqual(await ids(`assignee=${otherAgent}`), [c4]);
    assert.deepEqual(await ids('assignee=unassigned'), [c3, c2, c1, c0, c5]);
    assert.deepEqual(await ids(`queue=${queue.body.id}`), [c5]);
    assert.deepEqual(await ids(`status=open&assignee=unassigned`), [c0, c5]);

    // Keyset pages: every page size gives the same sequence, with no repeat and no gap.
    const full = await ids('');
    for (const limit of [1, 2, 3, 6, 7, 100]) {
      const { items, pages } = await allPages('/api/v1/conversations', limit, tokenOf);
      assert.deepEqual(
        items.map((c: { id: string }) => c.id),
        full,
        `limit ${limit}`,
      );
      assert.equal(pages, Math.max(1, Math.ceil(full.length / limit)), `pages at limit ${limit}`);
    }
  });

  it('refuses malformed query strings with the parameter as the path', async () => {
    const cases: [string, string][] = [
      ['/api/v1/conversations?cursor=bm90LWEtY3Vyc29y', '/query/cursor'],
      ['/api/v1/conversations?cursor=%2F%2F', '/query/cursor'],
      ['/api/v1/conversations?limit=0', '/query/limit'],
      ['/api/v1/conversations?limit=101', '/query/limit'],
      ['/api/v1/conversations?status=closed', '/query/status'],
      ['/api/v1/conversations?status=open&status=resolved', '/query/status'],
      ['/api/v1/conversations?assignee=someone', '/query/assignee'],
      ['/api/v1/conversations?queue=42', '/query/queue'],
      [`/api/v1/conversations/${randomUUID()}/messages?before=abc`, '/query/before'],
      ['/api/v1/contacts?cursor=x.y', '/query/cursor'],
      ['/api/v1/contacts?limit=1000', '/query/limit'],
    ];
    for (const [path, field] of cases) {
      const response = await get(path);
      assert.equal(response.status, 400, path);
      assert.equal(response.body.code, 'http.invalid_query', path);
      assert.equal(response.body.errors[0].path, field, path);
      assert.deepEqual(registry.validate('http/problem', response.body), []);
    }
  });

  it("counts unread messages until an agent answers, and keeps every message's status history", async () => {
    const c = await customerWrites(org, { name: 'Unread Ursula' });
    await customerWrites(org, { waId: c.waId, text: 'second' });
    await customerWrites(org, { waId: c.waId, text: 'third' });
    const unread = await conversationWhen(c.id, (x) => x.unreadCount === 3);
    assert.equal(unread.lastMessage.text, 'third');
    assert.equal(unread.contact.name, 'Unread Ursula');
    assert.ok(unread.lastInboundAt);

    const sent = await t.request('POST', `/api/v1/conversations/${c.id}/messages`, {
      token: org.accessToken,
      body: { type: 'text', text: 'On it!' },
    });
    assert.equal(sent.status, 202);
    const answered = await conversationWhen(c.id, (x) => x.lastMessage.status === 'sent');
    assert.equal(answered.unreadCount, 0);
    assert.deepEqual(
      { ...answered.lastMessage, at: undefined },
      {
        id: sent.body.id,
        direction: 'out',
        type: 'text',
        text: 'On it!',
        author: { kind: 'agent', id: org.userId },
        status: 'sent',
        at: undefined,
      },
    );

    // Meta's statuses, duplicated and out of order, only move it forward.
    const messages = ok(await get(`/api/v1/conversations/${c.id}/messages`), 'api/messageList');
    const out = messages.items[0];
    assert.equal(out.id, sent.body.id);
    const wamid = out.waMessageId as string;
    assert.match(wamid, /^wamid\./);
    const statuses = webhookBody({
      phoneNumberId: org.phoneNumberId,
      statuses: [
        statusUpdate(wamid, c.waId, 'read'),
        statusUpdate(wamid, c.waId, 'delivered'),
        statusUpdate(wamid, c.waId, 'delivered'),
      ],
    });
    assert.equal((await postWebhook(t, statuses, secret)).status, 200);
    const read = await conversationWhen(c.id, (x) => x.lastMessage.status === 'read');
    assert.equal(read.unreadCount, 0);
    const history = ok(await get(`/api/v1/conversations/${c.id}/messages`), 'api/messageList');
    const [latest, ...inbound] = history.items;
    assert.equal(latest.status, 'read');
    assert.deepEqual(
      latest.statusHistory.map((s: { status: string }) => s.status),
      ['queued', 'sent', 'delivered', 'read'],
    );
    assert.deepEqual(latest.author, { kind: 'agent', id: org.userId });
    assert.deepEqual(latest.content, { type: 'text', text: 'On it!' });
    assert.deepEqual(
      inbound.map((m: { text: string }) => m.text),
      ['third', 'second', 'hello'],
    );
    for (const message of inbound) {
      assert.equal(message.direction, 'in');
      assert.equal(message.status, 'received');
      assert.deepEqual(message.author, { kind: 'contact', id: read.contact.id });
    }

    // The customer writes again: one unread.
    await customerWrites(org, { waId: c.waId, text: 'thanks' });
    await conversationWhen(c.id, (x) => x.unreadCount === 1);

    // A permanent Graph error ends as failed, with Meta's code.
    graph.failNext(1, { status: 400, code: 131026, title: 'Message undeliverable' });
    const failing = await t.request('POST', `/api/v1/conversations/${c.id}/messages`, {
      token: org.accessToken,
      body: { type: 'text', text: 'never arrives' },
    });
    await conversationWhen(
      c.id,
      (x) => x.lastMessage.id === failing.body.id && x.lastMessage.status === 'failed',
    );
    const failed = ok(await get(`/api/v1/conversations/${c.id}/messages?limit=1`), 'api/messageList');
    assert.equal(failed.items[0].status, 'failed');
    assert.equal(failed.items[0].error.code, 131026);
    assert.deepEqual(
      failed.items[0].statusHistory.map((s: { status: string }) => s.status),
      ['queued', 'failed'],
    );

    // History pages by position: newest first, each page strictly older, nothing lost.
    const seen: string[] = [];
    let before: string | null = null;
    do {
      const query: string = before === null ? '?limit=2' : `?limit=2&before=${before}`;
      const page = ok(await get(`/api/v1/conversations/${c.id}/messages${query}`), 'api/messageList');
      seen.push(...page.items.map((m: { text: string }) => m.text));
      before = page.nextCursor;
    } while (before !== null);
    assert.deepEqual(seen, ['never arrives', 'thanks', 'On it!', 'third', 'second', 'hello']);
  });

  it('keeps private notes and labels', async () => {
    const c = await customerWrites(org);
    assert.equal((await act(c.id, 'notes', { text: 'first note' })).status, 200);
    assert.equal((await act(c.id, 'notes', { text: 'second note' })).status, 200);
    assert.equal((await act(c.id, 'labels', { label: 'vip' })).status, 200);
    assert.equal((await act(c.id, 'labels', { label: 'billing' })).status, 200);
    const removed = await t.request('DELETE', `/api/v1/conversations/${c.id}/labels/vip`, {
      token: org.accessToken,
    });
    assert.equal(removed.status, 200);
    const labelled = await conversationWhen(c.id, (x) => x.position === removed.body.position);
    assert.deepEqual(labelled.labels, ['billing']);
    const notes = ok(await get(`/api/v1/conversations/${c.id}/notes`), 'api/noteList');
    assert.deepEqual(
      notes.items.map((n: { text: string; authorId: string }) => [n.text, n.authorId]),
      [
        ['second note', org.userId],
        ['first note', org.userId],
      ],
    );
    const paged = ok(await get(`/api/v1/conversations/${c.id}/notes?limit=1`), 'api/noteList');
    const older = ok(
      await get(`/api/v1/conversations/${c.id}/notes?limit=1&before=${paged.nextCursor}`),
      'api/noteList',
    );
    assert.deepEqual(
      [paged.items[0].text, older.items[0].text, older.nextCursor],
      ['second note', 'first note', null],
    );
  });

  it("shows an agent without conversations.read_unassigned only their own and their queues' conversations", async () => {
    const mine = await customerWrites(org);
    const queued = await customerWrites(org);
    const hidden = await customerWrites(org);
    assert.equal((await act(mine.id, 'assign', { assigneeId: agent.id })).status, 200);
    const viaQueue = await act(queued.id, 'assign', { queueId });
    assert.equal(viaQueue.status, 200);
    await conversationWhen(queued.id, (x) => x.position === viaQueue.body.position);
    await conversationWhen(mine.id, (x) => x.assigneeId === agent.id);

    const visible = (await allPages('/api/v1/conversations', 1, agent.token)).items.map(
      (c: { id: string }) => c.id,
    );
    assert.ok(visible.includes(mine.id) && visible.includes(queued.id));
    assert.ok(!visible.includes(hidden.id));
    for (const c of (await allPages('/api/v1/conversations', 50, agent.token)).items) {
      assert.ok(c.assigneeId === agent.id || c.queueId === queueId, JSON.stringify(c));
    }
    // A conversation both assigned to them and in their queue is listed once.
    assert.equal((await act(queued.id, 'assign', { assigneeId: agent.id })).status, 200);
    await conversationWhen(queued.id, (x) => x.assigneeId === agent.id, agent.token);
    const again = (await allPages('/api/v1/conversations', 1, agent.token)).items.map(
      (c: { id: string }) => c.id,
    );
    assert.equal(new Set(again).size, again.length);
    assert.deepEqual(new Set(again), new Set(visible));
    assert.deepEqual(
      (await allPages('/api/v1/conversations?assignee=me', 2, agent.token)).items
        .map((c: { id: string }) => c.id)
        .sort(),
      [mine.id, queued.id].sort(),
    );

    for (const path of ['', '/messages', '/notes']) {
      assert.equal((await get(`/api/v1/conversations/${hidden.id}${path}`, agent.token)).status, 404, path);
      assert.equal((await get(`/api/v1/conversations/${mine.id}${path}`, agent.token)).status, 200, path);
    }
    // A viewer reads everything but cannot change contacts.
    assert.equal((await get(`/api/v1/conversations/${hidden.id}`, viewer.token)).status, 200);
    const contact = (await get(`/api/v1/conversations/${hidden.id}`)).body.contact;
    assert.equal((await get(`/api/v1/contacts/${contact.id}`, viewer.token)).status, 200);
    const patch = await t.request('PATCH', `/api/v1/contacts/${contact.id}`, {
      token: viewer.token,
      body: { name: 'Nope' },
    });
    assert.equal(patch.status, 403);
  });

  it('shows another organization nothing: empty lists and 404 for every id', async () => {
    const c = await customerWrites(org, { name: 'Private Paula' });
    const conversation = await conversationWhen(c.id, () => true);
    const contactId = conversation.contact.id;
    const token = stranger.accessToken;
    assert.deepEqual(ok(await get('/api/v1/conversations', token), 'api/conversationList'), {
      items: [],
      nextCursor: null,
    });
    assert.deepEqual(ok(await get('/api/v1/contacts', token), 'api/contactList'), {
      items: [],
      nextCursor: null,
    });
    assert.deepEqual((await get('/api/v1/contacts?search=Paula', token)).body.items, []);
    for (const path of [
      `/api/v1/conversations/${c.id}`,
      `/api/v1/conversations/${c.id}/messages`,
      `/api/v1/conversations/${c.id}/notes`,
      `/api/v1/contacts/${contactId}`,
      `/api/v1/contacts/${randomUUID()}`,
      '/api/v1/contacts/not-a-uuid',
    ]) {
      assert.equal((await get(path, token)).status, 404, path);
    }
    const patch = await t.request('PATCH', `/api/v1/contacts/${contactId}`, {
      token,
      body: { name: 'Mine now' },
    });
    assert.equal(patch.status, 404);
    assert.equal((await get(`/api/v1/contacts/${contactId}`)).body.name, null, 'unchanged');
  });

  it('searches contacts, and merges what agents set into them and their conversations', async () => {
    const waId = `4477${randomInt(1e6, 9e6)}`;
    const c = await customerWrites(org, { waId, name: 'Zélia Quintanilha' });
    const other = await customerWrites(org, { name: 'Someone Else' });
    const started = await conversationWhen(c.id, () => true);
    await conversationWhen(other.id, () => true);
    const contactId = started.contact.id as string;
    const contact = ok(await get(`/api/v1/contacts/${contactId}`), 'api/contact');
    assert.deepEqual(
      { ...contact, firstSeenAt: undefined, lastSeenAt: undefined, position: undefined },
      {
        id: contactId,
        waId,
        name: null,
        profileName: 'Zélia Quintanilha',
        attributes: {},
        firstSeenAt: undefined,
        lastSeenAt: undefined,
        position: undefined,
      },
    );

    const search = async (text: string) =>
      ok(await get(`/api/v1/contacts?search=${encodeURIComponent(text)}`), 'api/contactList').items.map(
        (k: { id: string }) => k.id,
      );
    assert.deepEqual(await search(waId.slice(0, 7)), [contactId]);
    assert.deepEqual(await search(`+${waId.slice(0, 2)} ${waId.slice(2, 7)}`), [contactId]);
    assert.deepEqual(await search('quintan'), [contactId]);
    assert.deepEqual(await search('ZÉLIA'), [contactId]);
    assert.deepEqual(await search('%'), []);
    assert.deepEqual(await search('nobody by that name'), []);

    // Contacts page by last seen, like the inbox.
    const pages: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor === null ? '?limit=2' : `?limit=2&cursor=${cursor}`;
      const page = ok(await get(`/api/v1/contacts${query}`), 'api/contactList');
      pages.push(...page.items.map((k: { id: string }) => k.id));
      cursor = page.nextCursor;
    } while (cursor !== null);
    const whole = ok(await get('/api/v1/contacts?limit=100'), 'api/contactList').items.map(
      (k: { id: string }) => k.id,
    );
    assert.deepEqual(pages, whole);
    assert.equal(new Set(pages).size, pages.length);

    const patch = (body: unknown, token = agent.token) =>
      t.request('PATCH', `/api/v1/contacts/${contactId}`, { token, body });
    const first = ok(
      await patch({ name: ' Zélia Q. ', attributes: { plan: 'gold', seats: 3, vip: true } }),
      'api/contact',
    );
    assert.equal(first.name, 'Zélia Q.');
    assert.deepEqual(first.attributes, { plan: 'gold', seats: 3, vip: true });
    assert.ok(BigInt(first.position) > BigInt(contact.position), 'the response includes the change');
    const second = ok(await patch({ attributes: { seats: 4, vip: null } }), 'api/contact');
    assert.deepEqual(second.attributes, { plan: 'gold', seats: 4 });
    assert.equal(second.name, 'Zélia Q.');
    const same = ok(await patch({ attributes: { seats: 4, gone: null } }), 'api/contact');
    assert.equal(same.position, second.position, 'a change that changes nothing records nothing');
    assert.deepEqual(await search('Q.'), [contactId]);

    // The conversation shows the name agents gave, even after the profile name changes.
    await conversationWhen(c.id, (x) => x.contact.name === 'Zélia Q.');
    await customerWrites(org, { waId, name: 'Zélia Q. Santos' });
    await eventually(async () =>
      assert.equal((await get(`/api/v1/contacts/${contactId}`)).body.profileName, 'Zélia Q. Santos'),
    );
    assert.equal((await get(`/api/v1/conversations/${c.id}`)).body.contact.name, 'Zélia Q.');
    // Cleared, the profile name shows again.
    assert.equal(ok(await patch({ name: null }), 'api/contact').name, null);
    await conversationWhen(c.id, (x) => x.contact.name === 'Zélia Q. Santos');

    // Bounds: 50 keys, 64-character keys, scalar values; a body that names nothing.
    const many = Object.fromEntries(Array.from({ length: 49 }, (_, i) => [`k${i}`, i]));
    assert.equal((await patch({ attributes: many })).status, 422, '2 + 49 keys');
    assert.equal((await patch({ attributes: { [`${'k'.repeat(65)}`]: 1 } })).status, 422);
    assert.equal((await patch({ attributes: { nested: { no: 1 } } })).status, 422);
    assert.equal((await patch({})).status, 422);
    assert.equal((await patch({ name: '   ' })).status, 422);
    assert.equal((await patch({ name: 'x' }, '')).status, 401);
    assert.equal(
      (
        await t.request('PATCH', `/api/v1/contacts/${randomUUID()}`, {
          token: agent.token,
          body: { name: 'x' },
        })
      ).status,
      404,
    );
    const fine = ok(
      await patch({ attributes: { ...Object.fromEntries(Object.entries(many).slice(0, 48)) } }),
      'api/contact',
    );
    assert.equal(Object.keys(fine.attributes).length, 50);
  });

  it('keeps read models out of reach of a query that does not set its tenant', async () => {
    await customerWrites(org);
    const client = new pg.Client({ connectionString: t.db.url });
    await client.connect();
    try {
      const count = async (tenant: string | null) => {
        await client.query('BEGIN');
        try {
          await client.query("SELECT set_config('role', 'pytake_app', true)");
          if (tenant) await client.query("SELECT set_config('app.organization_id', $1, true)", [tenant]);
          const { rows } = await client.query<{ conversations: string; messages: string; contacts: string }>(
            `SELECT (SELECT count(*) FROM rm.conversations) AS conversations,
                    (SELECT count(*) FROM rm.messages) AS messages,
                    (SELECT count(*) FROM rm.contacts) AS contacts,
                    (SELECT count(*) FROM rm.notes) AS notes`,
          );
          return rows[0];
        } finally {
          await client.query('ROLLBACK');
        }
      };
      assert.deepEqual(await count(null), { conversations: '0', messages: '0', contacts: '0', notes: '0' });
      assert.deepEqual(await count(randomUUID()), {
        conversations: '0',
        messages: '0',
        contacts: '0',
        notes: '0',
      });
      const own = await count(org.organizationId);
      assert.ok(Number(own?.conversations) > 0 && Number(own?.messages) > 0 && Number(own?.contacts) > 0);
    } finally {
      await client.end();
    }
  });
});
