import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { createDatabasePool, type DatabasePool } from '../../src/db/pool.ts';
import { PostgresEventStore } from '../../src/eventstore/postgresEventStore.ts';
import type { Principal } from '../../src/identity/authenticator.ts';
import { permissionsOf } from '../../src/identity/permissions.ts';
import type { ConversationDelta, DeltaBus, DeltaListener } from '../../src/realtime/delta.ts';
import { type Peer, RealtimeHub } from '../../src/realtime/realtimeHub.ts';
import { createRealtimeMetrics } from '../../src/realtime/realtimeMetrics.ts';
import { SchemaRegistry } from '../../src/schemas/schemaRegistry.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { testLogger } from '../support/database.ts';
import { customerWrites, orgWithChannel, type TestChannel } from '../support/whatsapp.ts';
import type { Frame } from './wsClient.ts';

const secret = 'loss-app-secret';

/** A bus that never delivers what the app publishes (its deltas are all "lost") and can say so. */
class LossyBus implements DeltaBus {
  private readonly listeners = new Set<DeltaListener>();
  private readonly lossListeners = new Set<() => void>();
  publish(deltas: readonly ConversationDelta[]): void {
    for (const listener of this.listeners) listener(deltas);
  }
  subscribe(listener: DeltaListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  onPossibleLoss(listener: () => void): () => void {
    this.lossListeners.add(listener);
    return () => this.lossListeners.delete(listener);
  }
  lose(): void {
    for (const listener of this.lossListeners) listener();
  }
  async close(): Promise<void> {}
}

/** A socket in memory; `wire` is every frame's topic in the order written, shared with native publishes. */
class FakePeer implements Peer {
  readonly frames: Frame[] = [];
  readonly topics = new Set<string>();
  /** How many frames went out in each corked write. */
  readonly corks: number[] = [];
  private corked: number | undefined;
  constructor(private readonly wire: string[] = []) {}
  send(frame: string): void {
    const parsed = JSON.parse(frame);
    this.frames.push(parsed);
    this.wire.push(parsed.topic);
    if (this.corked !== undefined) this.corked += 1;
  }
  cork(sends: () => void): void {
    this.corked = 0;
    sends();
    this.corks.push(this.corked);
    this.corked = undefined;
  }
  bufferedAmount(): number {
    return 0;
  }
  end(): void {}
  subscribe(topic: string): void {
    this.topics.add(topic);
  }
  unsubscribe(topic: string): void {
    this.topics.delete(topic);
  }
}

const until = async (condition: () => boolean | Promise<boolean>, what: string) => {
  const deadline = Date.now() + 15_000;
  while (!(await condition())) {
    assert.ok(Date.now() < deadline, `timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

describe('the gateway after the bus may have lost deltas', { timeout: 60_000 }, () => {
  let t: TestApp;
  let org: TestChannel;
  let pool: DatabasePool;
  let store: PostgresEventStore;
  before(async () => {
    t = await startTestApp('realtime_loss', { META_APP_SECRET: secret });
    org = await orgWithChannel(t, 'loss');
    pool = await createDatabasePool(t.db.url, 4);
    store = await PostgresEventStore.open({
      pool,
      databaseUrl: t.db.url,
      registry: new SchemaRegistry(),
      logger: testLogger,
    });
  });
  after(async () => {
    await store?.close();
    await pool?.end();
    await t?.close();
  });

  const item = async (id: string) => {
    const answer = await t.request('GET', `/api/v1/conversations/${id}`, { token: org.accessToken });
    return answer.status === 200 ? answer.body : undefined;
  };

  /** A hub over a bus the test drives, for the organization's admin; native publishes are recorded. */
  const startHub = () => {
    const bus = new LossyBus();
    const metricsRegistry = new Registry();
    const published: [string, Frame][] = [];
    const wire: string[] = [];
    const principal: Principal = {
      userId: org.userId,
      organizationId: org.organizationId,
      email: 'admin@example.com',
      name: 'Admin',
      role: 'org_admin',
      permissions: permissionsOf('org_admin'),
      sessionId: randomUUID(),
    };
    const hub = new RealtimeHub({
      config: { WS_MAX_BUFFER_BYTES: 1 << 20, WS_AUTH_RECHECK_SECONDS: 3600 },
      logger: testLogger,
      pool,
      store,
      authenticator: {
        fromToken: async () => principal,
        recheck: async (sessions) => new Map(sessions.map((session) => [session.sessionId, principal])),
      },
      bus,
      commands: {
        pool,
        conversations: { send: () => Promise.reject(new Error('no commands here')) },
        projections: { waitForProjection: async () => {} },
      },
      registry: new SchemaRegistry(),
      metrics: createRealtimeMetrics(metricsRegistry),
      publish: (topic, frame) => {
        published.push([topic, JSON.parse(frame)]);
        wire.push(topic);
        return 1;
      },
    });
    hub.start();
    return { hub, bus, metricsRegistry, published, principal, wire };
  };

  it('reads what its conversation topics and inbox missed back from the store and the read model', async () => {
    const c = await customerWrites(t, org, secret);
    await until(async () => (await item(c.id)) !== undefined, 'the conversation is projected');
    const { hub, bus, metricsRegistry, published, principal } = startHub();
    try {
      const peer = new FakePeer();
      const connection = hub.open(peer, { token: 't', principal, expiresAt: Date.now() + 60_000 });
      const topic = `conversation:${c.id}`;
      hub.message(connection, JSON.stringify({ op: 'subscribe', topic: 'inbox' }));
      hub.message(connection, JSON.stringify({ op: 'subscribe', topic }));
      await until(() => peer.frames.some((frame) => frame.topic === topic), 'subscribed');
      const subscribed = peer.frames.find((frame) => frame.topic === topic);
      assert.equal(subscribed.op, 'subscribed');
      assert.ok(peer.topics.has(`inbox/${org.organizationId}`));
      // The last delta this node heard of before the bus went quiet.
      bus.publish([
        {
          organizationId: org.organizationId,
          conversationId: c.id,
          position: subscribed.position,
          previous: null,
          event: { type: 'MessageReceived', data: {}, occurredAt: new Date().toISOString() },
          inbox: null,
        },
      ]);

      let lastNote = '';
      for (const text of ['one', 'two', 'three']) {
        const answer = await t.request('POST', `/api/v1/conversations/${c.id}/notes`, {
          token: org.accessToken,
          body: { text },
        });
        assert.equal(answer.status, 200);
        lastNote = answer.body.position;
      }
      const d = await customerWrites(t, org, secret);
      await until(async () => (await item(d.id)) !== undefined, 'the new conversation is projected');
      await until(async () => (await item(c.id))?.position === lastNote, 'the notes are projected');
      const expectedC = await item(c.id);
      const expectedD = await item(d.id);

      bus.lose();
      await until(
        () => peer.frames.filter((frame) => frame.topic === topic && frame.op === 'delta').length >= 3,
        'the missed notes are sent',
      );
      await until(() => published.length >= 2, 'the changed inbox items are sent');
      assert.deepEqual(
        peer.frames
          .filter((frame) => frame.topic === topic && frame.op === 'delta')
          .map((frame) => frame.event.data.text),
        ['one', 'two', 'three'],
      );
      const items = new Map(published.map(([, frame]) => [frame.event.data.id, frame]));
      assert.equal(items.get(c.id)?.position, expectedC.position);
      assert.equal(items.get(d.id)?.position, expectedD.position);
      assert.equal(items.get(d.id)?.event.data.contact.waId, d.waId);
      assert.match(await metricsRegistry.metrics(), /ws_delta_gap_repairs_total 1/);

      // A second signal with nothing missed sends nothing again.
      const sent = peer.frames.length;
      bus.lose();
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(peer.frames.length, sent);
      assert.equal(published.length, 2);
    } finally {
      await hub.close();
    }
  });

  it('writes a socket’s frames of a batch of deltas at once, a delta’s conversation frame before its inbox item', async () => {
    const c = await customerWrites(t, org, secret);
    await until(async () => (await item(c.id)) !== undefined, 'the conversation is projected');
    const { hub, bus, principal, wire } = startHub();
    try {
      const peer = new FakePeer(wire);
      const connection = hub.open(peer, { token: 't', principal, expiresAt: Date.now() + 60_000 });
      const topic = `conversation:${c.id}`;
      hub.message(connection, JSON.stringify({ op: 'subscribe', topic: 'inbox' }));
      hub.message(connection, JSON.stringify({ op: 'subscribe', topic }));
      await until(() => peer.frames.some((frame) => frame.topic === topic), 'subscribed');
      const start = BigInt(peer.frames.find((frame) => frame.topic === topic).position);
      const listed = await item(c.id);
      const delta = (offset: bigint): ConversationDelta => ({
        organizationId: org.organizationId,
        conversationId: c.id,
        position: String(start + offset),
        previous: String(start + offset - 1n),
        event: { type: 'NoteAdded', data: { text: `note ${offset}` }, occurredAt: new Date().toISOString() },
        inbox: {
          item: { ...listed, position: String(start + offset) },
          audience: { assigneeIds: [], queueIds: [] },
        },
      });
      // The relay goes live once its first read is back: a first delta shows it has.
      bus.publish([delta(1n)]);
      await until(() => peer.frames.some((frame) => frame.topic === topic && frame.op === 'delta'), 'live');
      wire.length = 0;
      peer.corks.length = 0;

      bus.publish([delta(2n), delta(3n), delta(4n)]);
      assert.deepEqual(peer.corks, [3], 'one write for the socket’s three frames');
      const inbox = `inbox/${org.organizationId}`;
      assert.deepEqual(wire, [topic, topic, topic, inbox, inbox, inbox]);
    } finally {
      await hub.close();
    }
  });
});
