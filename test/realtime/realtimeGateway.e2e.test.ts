import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startTestApp, type TestApp } from '../support/app.ts';
import { orgWithChannel, type TestChannel, customerWrites as writes } from '../support/whatsapp.ts';
import { type Frame, TestSocket } from './wsClient.ts';

const secret = 'realtime-app-secret';
const password = 'correct horse battery staple';

describe('the agent console WebSocket', { timeout: 120_000 }, () => {
  let t: TestApp;
  let org: TestChannel;
  const sockets: TestSocket[] = [];
  before(async () => {
    t = await startTestApp('realtime_gateway', { META_APP_SECRET: secret, WS_AUTH_RECHECK_SECONDS: '1' });
    org = await orgWithChannel(t, 'realtime');
  });
  after(async () => {
    for (const socket of sockets) socket.close();
    await t?.close();
  });

  const open = async (token: string, style: 'protocol' | 'query' = 'protocol') => {
    const socket = await TestSocket.open(t.app.port, token, style);
    sockets.push(socket);
    return socket;
  };
  const customerWrites = (waId?: string, text?: string) =>
    writes(t, org, secret, {
      ...(waId === undefined ? {} : { waId }),
      ...(text === undefined ? {} : { text }),
    });
  const act = (id: string, action: string, body: unknown = {}, token = org.accessToken) =>
    t.request('POST', `/api/v1/conversations/${id}/${action}`, { token, body });
  const newUser = async (role: string, admin = org.accessToken) => {
    const email = `${role}-${randomUUID().slice(0, 8)}@example.com`;
    const created = await t.request('POST', '/api/v1/users', {
      token: admin,
      body: { email, name: `A ${role}`, password, role },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const login = await t.request('POST', '/api/v1/auth/login', { body: { email, password } });
    assert.equal(login.status, 200, JSON.stringify(login.body));
    return {
      id: created.body.id as string,
      token: login.body.accessToken as string,
      refreshToken: login.body.refreshToken,
    };
  };
  const subscribe = async (socket: TestSocket, topic: string, after?: string): Promise<Frame> => {
    socket.send({ op: 'subscribe', topic, ...(after === undefined ? {} : { after }) });
    return socket.next(
      (frame) => frame.topic === topic && (frame.op === 'subscribed' || frame.op === 'error'),
    );
  };

  it('authenticates the upgrade with the bearer subprotocol or the query string, and refuses a bad token with 401', async () => {
    const byProtocol = await open(org.accessToken, 'protocol');
    assert.equal(byProtocol.ws.protocol, 'pytake.v1');
    await byProtocol.roundTrip();
    const byQuery = await open(org.accessToken, 'query');
    await byQuery.roundTrip();

    const base = `ws://127.0.0.1:${t.app.port}/ws`;
    const bad = await TestSocket.refused(base, ['pytake.v1', 'bearer.not-a-token']);
    assert.equal(bad.status, 401);
    assert.equal(JSON.parse(bad.body).code, 'auth.token_invalid');
    const tampered = await TestSocket.refused(`${base}?access_token=${org.accessToken.slice(0, -4)}AAAA`);
    assert.equal(tampered.status, 401);
    const missing = await TestSocket.refused(base, ['pytake.v1']);
    assert.equal(missing.status, 401);
    assert.equal(JSON.parse(missing.body).code, 'auth.missing_token');
    // The path without an upgrade is not a route.
    assert.equal((await t.request('GET', '/ws')).status, 404);
  });

  it('answers ping with pong and unreadable frames with invalid_frame, keeping the socket open', async () => {
    const socket = await open(org.accessToken);
    socket.send({ op: 'ping' });
    assert.deepEqual(await socket.next(), { op: 'pong' });
    socket.send('{"op":');
    assert.equal((await socket.next()).code, 'invalid_frame');
    socket.send({ op: 'dance' });
    const unknown = await socket.next();
    assert.deepEqual([unknown.op, unknown.code], ['error', 'invalid_frame']);
    socket.send({ op: 'command', id: 'c1', type: 'Resolve' });
    const withId = await socket.next();
    assert.deepEqual(
      [withId.id, withId.code, withId.errors[0].path],
      ['c1', 'invalid_frame', '/conversationId'],
    );
    socket.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    assert.equal((await socket.next()).code, 'invalid_frame');
    await socket.roundTrip();

    socket.send(JSON.stringify({ op: 'ping', padding: 'x'.repeat(100 * 1024) }));
    const closed = await socket.closed;
    assert.equal(closed.code, 1009);
  });

  it("sends a webhook's inbox item and conversation events, in order, to a user who sees the organization", async () => {
    const socket = await open(org.accessToken);
    const inbox = await subscribe(socket, 'inbox');
    assert.equal(inbox.op, 'subscribed');
    const c = await customerWrites(undefined, 'hello');
    const first = await socket.next((frame) => frame.topic === 'inbox' && frame.event.data.id === c.id);
    assert.equal(first.op, 'delta');
    const topic = `conversation:${c.id}`;
    const subscribed = await subscribe(socket, topic);
    assert.match(subscribed.position, /^\d+$/);

    await customerWrites(c.waId, 'second');
    await customerWrites(c.waId, 'third');
    const deltas: Frame[] = [];
    while (deltas.length < 2) deltas.push(await socket.next((frame) => frame.topic === topic));
    assert.deepEqual(
      deltas.map((frame) => [frame.op, frame.event.type, frame.event.data.content.text]),
      [
        ['delta', 'MessageReceived', 'second'],
        ['delta', 'MessageReceived', 'third'],
      ],
    );
    assert.ok(BigInt(deltas[0].position) > BigInt(subscribed.position));
    assert.ok(BigInt(deltas[1].position) > BigInt(deltas[0].position));
    const item = await socket.next(
      (frame) => frame.topic === 'inbox' && frame.event.data.lastMessage?.text === 'third',
    );
    assert.equal(item.position, deltas[1].position);
    assert.equal(item.event.type, 'MessageReceived');
    // Inbox items of one conversation only move forward.
    const positions = socket.frames
      .filter((frame) => frame.op === 'delta' && frame.topic === 'inbox' && frame.event.data.id === c.id)
      .map((frame) => BigInt(frame.position));
    assert.deepEqual(
      positions,
      [...positions].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
    );
    assert.equal(new Set(positions).size, positions.length);

    socket.send({ op: 'unsubscribe', topic });
    await socket.roundTrip();
    const seen = socket.frames.length;
    await customerWrites(c.waId, 'fourth');
    await socket.next((frame) => frame.topic === 'inbox' && frame.event.data.lastMessage?.text === 'fourth');
    assert.ok(!socket.frames.slice(seen).some((frame) => frame.topic === topic), 'unsubscribed');
  });

  it("refuses another organization's conversation and an unknown one alike, and a restricted agent's unassigned ones", async () => {
    const c = await customerWrites();
    const stranger = await orgWithChannel(t, 'stranger');
    const strangerSocket = await open(stranger.accessToken);
    const foreign = await subscribe(strangerSocket, `conversation:${c.id}`);
    const unknown = await subscribe(strangerSocket, `conversation:${randomUUID()}`);
    assert.deepEqual([foreign.op, foreign.code], ['error', 'forbidden']);
    assert.deepEqual([unknown.op, unknown.code, unknown.message], ['error', 'forbidden', foreign.message]);
    await strangerSocket.roundTrip();
    assert.ok(!strangerSocket.frames.some((frame) => frame.op === 'delta'), 'no data');

    const agent = await newUser('agent');
    const agentSocket = await open(agent.token);
    assert.equal((await subscribe(agentSocket, `conversation:${c.id}`)).code, 'forbidden');
    assert.equal((await subscribe(agentSocket, 'inbox')).op, 'subscribed');
    const other = await customerWrites();
    assert.equal((await act(c.id, 'assign', { assigneeId: agent.id })).status, 200);
    const assigned = await agentSocket.next((frame) => frame.topic === 'inbox');
    assert.deepEqual([assigned.event.data.id, assigned.event.data.assigneeId], [c.id, agent.id]);
    assert.equal((await subscribe(agentSocket, `conversation:${c.id}`)).op, 'subscribed');
    await customerWrites(c.waId, 'for the agent');
    await agentSocket.next((frame) => frame.topic === `conversation:${c.id}` && frame.op === 'delta');
    await agentSocket.roundTrip();
    assert.ok(
      !agentSocket.frames.some((frame) => frame.op === 'delta' && frame.event.data.id === other.id),
      "an unassigned conversation never reaches the agent's inbox",
    );
  });

  it('runs commands as the HTTP routes do, acking with their answer or erring with their code', async () => {
    const c = await customerWrites();
    const socket = await open(org.accessToken);
    const command = async (frame: Record<string, unknown>) => {
      const id = randomUUID();
      socket.send({ op: 'command', id, conversationId: c.id, ...frame });
      return socket.next((reply) => reply.id === id);
    };
    const note = await command({ type: 'AddNote', text: 'VIP' });
    assert.equal(note.op, 'ack');
    assert.deepEqual(Object.keys(note.result).sort(), ['id', 'position']);
    assert.equal(note.result.id, c.id);
    assert.equal((await command({ type: 'Resolve' })).result.position === null, false);
    assert.equal((await command({ type: 'Resolve' })).result.position, null, 'nothing changes twice');
    assert.equal((await command({ type: 'Reopen' })).op, 'ack');
    const agent = await newUser('agent');
    assert.equal((await command({ type: 'Assign', assigneeId: agent.id })).op, 'ack');
    const sent = await command({
      type: 'SendMessage',
      message: { type: 'text', text: 'hi', clientMessageId: 'k-1' },
    });
    assert.deepEqual([sent.op, sent.result.status], ['ack', 'queued']);
    const again = await command({
      type: 'SendMessage',
      message: { type: 'text', text: 'hi', clientMessageId: 'k-1' },
    });
    assert.equal(again.result.id, sent.result.id, 'the same clientMessageId names the same message');

    const noTarget = await command({ type: 'Assign' });
    assert.deepEqual([noTarget.op, noTarget.code], ['error', 'http.validation_failed']);
    assert.equal(
      (await command({ type: 'Assign', assigneeId: randomUUID() })).code,
      'identity.invalid_reference',
    );
    const missing = randomUUID();
    socket.send({ op: 'command', id: 'gone', type: 'Resolve', conversationId: missing });
    assert.equal((await socket.next((reply) => reply.id === 'gone')).code, 'http.not_found');

    const viewer = await newUser('viewer');
    const viewerSocket = await open(viewer.token);
    viewerSocket.send({ op: 'command', id: 'v1', type: 'AddNote', conversationId: c.id, text: 'no' });
    assert.equal((await viewerSocket.next((reply) => reply.id === 'v1')).code, 'auth.forbidden');
    const other = await newUser('agent');
    // KNOWN FLAKE (see the issue 5 closing note): in full-suite runs on a loaded machine this socket
    // has been closed abnormally (1006) right after opening, never when run alone. One new socket is
    // allowed, so the check below still has to pass; the cause is still to find.
    const peek = async () => {
      const otherSocket = await open(other.token);
      otherSocket.send({ op: 'command', id: 'a1', type: 'AddNote', conversationId: c.id, text: 'peek' });
      return otherSocket.next((reply) => reply.id === 'a1');
    };
    const answer = await peek().catch((error: Error) => {
      if (!/socket closed 1006/.test(error.message)) throw error;
      return peek();
    });
    assert.equal(answer.code, 'http.not_found');
  });

  it('applies a role change to open sockets at the next recheck, ending topics it takes away', async () => {
    const c = await customerWrites();
    const user = await newUser('org_admin');
    const socket = await open(user.token);
    assert.equal((await subscribe(socket, 'inbox')).op, 'subscribed');
    const topic = `conversation:${c.id}`;
    assert.equal((await subscribe(socket, topic)).op, 'subscribed');
    const demoted = await t.request('PATCH', `/api/v1/users/${user.id}`, {
      token: org.accessToken,
      body: { role: 'agent' },
    });
    assert.equal(demoted.status, 200, JSON.stringify(demoted.body));
    const ended = await socket.next((frame) => frame.op === 'error' && frame.topic === topic, 10_000);
    assert.equal(ended.code, 'forbidden');
    // Still subscribed to the inbox, now limited to their own conversations.
    const unseen = await customerWrites();
    const role = await t.request('POST', '/api/v1/roles', {
      token: org.accessToken,
      body: { name: `no-inbox-${randomUUID().slice(0, 6)}`, permissions: ['users.read'] },
    });
    assert.equal(role.status, 201, JSON.stringify(role.body));
    await t.request('PATCH', `/api/v1/users/${user.id}`, {
      token: org.accessToken,
      body: { role: role.body.name },
    });
    const noInbox = await socket.next((frame) => frame.op === 'error' && frame.topic === 'inbox', 10_000);
    assert.equal(noInbox.code, 'forbidden');
    assert.ok(!socket.frames.some((frame) => frame.topic === 'inbox' && frame.event?.data.id === unseen.id));
    assert.equal((await subscribe(socket, 'inbox')).code, 'forbidden');
  });

  it('closes sockets with 4401 within the recheck interval once the session is revoked or the user deleted', async () => {
    const user = await newUser('agent');
    const socket = await open(user.token);
    const started = Date.now();
    assert.equal(
      (await t.request('POST', '/api/v1/auth/logout', { body: { refreshToken: user.refreshToken } })).status,
      204,
    );
    const closed = await socket.closed;
    assert.equal(closed.code, 4401);
    assert.ok(Date.now() - started < 5000, `closed after ${Date.now() - started} ms`);
    const refused = await TestSocket.refused(`ws://127.0.0.1:${t.app.port}/ws?access_token=${user.token}`);
    assert.equal(refused.status, 401, 'a revoked session cannot connect again');

    const removed = await newUser('agent');
    const other = await open(removed.token);
    assert.equal(
      (await t.request('DELETE', `/api/v1/users/${removed.id}`, { token: org.accessToken })).status,
      204,
    );
    assert.equal((await other.closed).code, 4401);
  });

  it('reports its connections and frames in /metrics', async () => {
    await open(org.accessToken);
    const metrics = await t.request('GET', '/metrics');
    assert.match(metrics.body, /^ws_connections [1-9]/m);
    assert.match(metrics.body, /^ws_frames_sent_total [1-9]/m);
    assert.match(metrics.body, /^ws_subscriptions\{kind="inbox"\} \d/m);
    assert.match(metrics.body, /^ws_closed_slow_total 0/m);
    assert.match(metrics.body, /^ws_delta_gap_repairs_total \d/m);
  });
});

describe('the agent console WebSocket and the end of a session or of the server', { timeout: 60_000 }, () => {
  it('closes a socket with 4401 once its token expires, and every socket with 1001 on shutdown', async () => {
    const t = await startTestApp('realtime_expiry', {
      ACCESS_TOKEN_TTL_SECONDS: '2',
      WS_AUTH_RECHECK_SECONDS: '1',
    });
    try {
      const org = await orgWithChannel(t, 'expiry');
      const socket = await TestSocket.open(t.app.port, org.accessToken);
      const expired = await socket.closed;
      assert.deepEqual([expired.code, expired.reason], [4401, 'token expired']);
      const fresh = await orgWithChannel(t, 'fresh');
      const survivor = await TestSocket.open(t.app.port, fresh.accessToken);
      await survivor.roundTrip();
      const closing = t.app.close();
      const closed = await survivor.closed;
      assert.equal(closed.code, 1001);
      await closing;
    } finally {
      await t.db.drop();
    }
  });
});
