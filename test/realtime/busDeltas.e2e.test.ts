import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { ConversationDelta, DeltaBus } from '../../src/realtime/delta.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { customerWrites, orgWithChannel, type TestChannel } from '../support/whatsapp.ts';
import { type Frame, TestSocket } from './wsClient.ts';

const secret = 'bus-app-secret';
const limit = 65_536;

const metric = async (t: TestApp, name: string): Promise<number> => {
  const text = (await t.request('GET', '/metrics')).body as string;
  const match = new RegExp(`^${name} (\\d+)`, 'm').exec(text);
  return Number(match?.[1] ?? Number.NaN);
};

const until = async (condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    assert.ok(Date.now() < deadline, `timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

describe('deltas as the bus delivers them', { timeout: 120_000 }, () => {
  let t: TestApp;
  let org: TestChannel;
  let bus: DeltaBus;
  before(async () => {
    t = await startTestApp('realtime_bus', { META_APP_SECRET: secret, WS_MAX_BUFFER_BYTES: String(limit) });
    org = await orgWithChannel(t, 'bus');
    bus = t.app.deltaBus;
  });
  after(async () => {
    await t?.close();
  });

  const conversation = async () => {
    const c = await customerWrites(t, org, secret);
    await until(
      async () =>
        (await t.request('GET', `/api/v1/conversations/${c.id}`, { token: org.accessToken })).status === 200,
      'the conversation is projected',
    );
    return c;
  };

  /** Holds back what the projection publishes until `release` re-delivers it, scrambled. */
  const interceptBus = () => {
    const original = bus.publish;
    const held: ConversationDelta[] = [];
    bus.publish = (deltas) => {
      held.push(...deltas);
    };
    return {
      held,
      deliver: (deltas: readonly ConversationDelta[]) => original.call(bus, deltas),
      restore: () => {
        bus.publish = original;
      },
    };
  };

  it('drops duplicate and stale deltas and fills gaps from the store, so the socket sees each event once, in order', async () => {
    const c = await conversation();
    const topic = `conversation:${c.id}`;
    const socket = await TestSocket.open(t.app.port, org.accessToken);
    socket.send({ op: 'subscribe', topic: 'inbox' });
    socket.send({ op: 'subscribe', topic });
    const subscribed = await socket.next((frame) => frame.op === 'subscribed' && frame.topic === topic);
    const repairsBefore = await metric(t, 'ws_delta_gap_repairs_total');

    const bus = interceptBus();
    try {
      for (let index = 0; index < 20; index += 1) {
        const answer = await t.request('POST', `/api/v1/conversations/${c.id}/notes`, {
          token: org.accessToken,
          body: { text: `note ${index}` },
        });
        assert.equal(answer.status, 200);
      }
      const notes = () => bus.held.filter((delta) => delta.conversationId === c.id);
      await until(() => notes().length >= 20, 'the projection published every note');
      const deltas = notes();
      const inboxItems = deltas.filter((delta) => delta.inbox !== null);
      assert.ok(inboxItems.length > 0);
      // Duplicates, reordering, and losses (4, 8 and 12 never come), one or several per publish.
      const order = [0, 0, 2, 1, 3, 3, 6, 5, 7, 10, 9, 11, 13, 14, 16, 15, 17, 19, 18, 1, 0];
      for (const index of order) bus.deliver([deltas[index] as ConversationDelta]);
      bus.deliver([...inboxItems].reverse());
    } finally {
      bus.restore();
    }

    const received: Frame[] = [];
    while (received.length < 20) received.push(await socket.next((frame) => frame.topic === topic));
    assert.deepEqual(
      received.map((frame) => frame.event.data.text),
      Array.from({ length: 20 }, (_, index) => `note ${index}`),
    );
    const positions = received.map((frame) => BigInt(frame.position));
    assert.ok(
      positions.every((position, index) => index === 0 || position > (positions[index - 1] as bigint)),
    );
    assert.ok((positions[0] as bigint) > BigInt(subscribed.position));
    assert.ok((await metric(t, 'ws_delta_gap_repairs_total')) > repairsBefore);

    await socket.roundTrip();
    assert.equal(socket.frames.filter((frame) => frame.topic === topic && frame.op === 'delta').length, 20);
    const inbox = socket.frames
      .filter((frame) => frame.op === 'delta' && frame.topic === 'inbox' && frame.event.data.id === c.id)
      .map((frame) => BigInt(frame.position));
    assert.ok(inbox.length > 0);
    assert.ok(
      inbox.every((position, index) => index === 0 || position > (inbox[index - 1] as bigint)),
      'an inbox item never goes back',
    );
    socket.close();
    await socket.closed;
  });

  /** Publishes fat deltas (8 KB), 50 at a time, until `stop` holds. */
  const flood = async (stop: () => Promise<boolean>, make: (index: number) => ConversationDelta) => {
    let index = 0;
    let bytes = 0;
    while (!(await stop())) {
      assert.ok(bytes < 200 * 1024 * 1024, 'never closed');
      const batch = Array.from({ length: 50 }, () => make(index++));
      bytes += batch.length * 8192;
      bus.publish(batch);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return bytes;
  };
  const padding = 'x'.repeat(8000);

  it('closes a client that stops reading its inbox with 1013, keeping its backlog bounded', async () => {
    const socket = await TestSocket.open(t.app.port, org.accessToken);
    socket.send({ op: 'subscribe', topic: 'inbox' });
    await socket.next((frame) => frame.op === 'subscribed');
    const closedBefore = await metric(t, 'ws_closed_slow_total');
    const memoryBefore = process.memoryUsage().rss;
    (socket.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();

    let position = 10n ** 15n;
    await flood(
      async () => (await metric(t, 'ws_closed_slow_total')) > closedBefore,
      () => {
        position += 1n;
        const conversationId = randomUUID();
        return {
          organizationId: org.organizationId,
          conversationId,
          position: String(position),
          previous: null,
          event: { type: 'MessageReceived', data: {}, occurredAt: new Date().toISOString() },
          inbox: {
            item: { id: conversationId, position: String(position), padding },
            audience: { assigneeIds: [], queueIds: [] },
          },
        };
      },
    );
    const grown = process.memoryUsage().rss - memoryBefore;
    (socket.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    const closed = await socket.closed;
    assert.equal(closed.code, 1013);
    assert.ok(grown < 64 * 1024 * 1024, `memory grew by ${grown} bytes`);
    const connections = await metric(t, 'ws_connections');
    assert.equal(connections, 0, 'the slow socket is gone');
  });

  it('closes a client that stops reading a conversation with 1013 too', async () => {
    const c = await conversation();
    const topic = `conversation:${c.id}`;
    const socket = await TestSocket.open(t.app.port, org.accessToken);
    socket.send({ op: 'subscribe', topic });
    const subscribed = await socket.next((frame) => frame.op === 'subscribed');
    const closedBefore = await metric(t, 'ws_closed_slow_total');
    (socket.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
    let previous = BigInt(subscribed.position);
    await flood(
      async () => (await metric(t, 'ws_closed_slow_total')) > closedBefore,
      () => {
        const position = previous + 1000n;
        const delta: ConversationDelta = {
          organizationId: org.organizationId,
          conversationId: c.id,
          position: String(position),
          previous: String(previous),
          event: { type: 'NoteAdded', data: { text: padding }, occurredAt: new Date().toISOString() },
          inbox: null,
        };
        previous = position;
        return delta;
      },
    );
    (socket.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    assert.equal((await socket.closed).code, 1013);
  });
});
