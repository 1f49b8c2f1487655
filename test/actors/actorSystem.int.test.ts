import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { ActorSystem } from '../../src/actors/actorSystem.ts';
import { conversationBehaviour } from '../../src/conversation/conversationActor.ts';
import type { ConversationCommand } from '../../src/conversation/conversationCommands.ts';
import type { ConversationState } from '../../src/conversation/conversationState.ts';
import { createDatabasePool } from '../../src/db/pool.ts';
import type { AppError } from '../../src/errors/catalogue.ts';
import { deterministicId } from '../../src/eventsourcing/deterministicId.ts';
import { PostgresEventStore } from '../../src/eventstore/postgresEventStore.ts';
import type { InboundMessage } from '../../src/whatsapp/normaliseMessage.ts';
import { openTestEventStore, testLogger, testRegistry } from '../support/database.ts';

const organizationId = deterministicId('actors/org');
const channelId = deterministicId('actors/channel');
const context = { organizationId, actor: 'meta-webhook' };

const text = (n: number): InboundMessage => ({
  waMessageId: `wamid.actor-${n}`,
  from: '15550100000',
  sentAt: new Date(Date.UTC(2026, 10, 25, 12, 0, n)).toISOString(),
  content: { type: 'text', text: `message ${n}` },
});
const webhook = (conversationId: string, ...messages: InboundMessage[]): ConversationCommand => ({
  type: 'ReceiveWebhook',
  conversationId,
  channelId,
  contact: { waId: '15550100000', name: 'Ana' },
  messages,
  statuses: [],
});

describe('conversation actors on Postgres', { timeout: 120_000 }, () => {
  let opened: Awaited<ReturnType<typeof openTestEventStore>>;
  before(async () => {
    opened = await openTestEventStore('actors');
  });
  after(async () => {
    await opened?.close();
  });

  const system = (
    store = opened.store,
    options: Partial<ConstructorParameters<typeof ActorSystem>[2]> = {},
  ) =>
    new ActorSystem<ConversationCommand, ConversationState>(store, conversationBehaviour(), {
      mailboxLimit: 1000,
      idleMs: 60_000,
      maxConflictRetries: 50,
      ...options,
    });

  it('stays correct when two processes handle the same conversation at once', async () => {
    // A second "process": its own pool, event store and actors, on the same database.
    const pool = await createDatabasePool(opened.db.url, 10);
    const otherStore = await PostgresEventStore.open({
      pool,
      databaseUrl: opened.db.url,
      registry: testRegistry(),
      logger: testLogger,
    });
    const metrics = [new Registry(), new Registry()];
    const nodeA = system(opened.store, { metricsRegistry: metrics[0] });
    const nodeB = system(otherStore, { metricsRegistry: metrics[1] });
    const conversationId = deterministicId('actors/two-nodes');
    try {
      // Each node gets its own messages, and half of them reach both (Meta redelivers to whichever
      // answers), interleaved.
      await Promise.all(
        Array.from({ length: 100 }, (_, n) => [
          nodeA.send(conversationId, webhook(conversationId, text(n)), context),
          nodeB.send(conversationId, webhook(conversationId, text(100 + n)), context),
          ...(n % 2 === 0 ? [nodeB.send(conversationId, webhook(conversationId, text(n)), context)] : []),
        ]).flat(),
      );
    } finally {
      await otherStore.close();
      await pool.end();
    }
    const events = await opened.store.readStream(`conversation-${conversationId}`);
    assert.deepEqual(
      events.map((event) => event.revision),
      events.map((_, index) => BigInt(index)),
      'revisions without gaps',
    );
    assert.equal(events.filter((event) => event.type === 'ConversationStarted').length, 1);
    const received = events.filter((event) => event.type === 'MessageReceived');
    assert.equal(received.length, 200);
    assert.equal(
      new Set(received.map((event) => (event.data as { waMessageId: string }).waMessageId)).size,
      200,
    );
    const conflicts = await Promise.all(
      metrics.map(
        async (registry) =>
          (await registry.getSingleMetricAsString('actor_conflicts_total')).match(/} (\d+)/)?.[1],
      ),
    );
    assert.ok(
      conflicts.some((count) => Number(count) > 0),
      `conflicts seen: ${conflicts.join(', ')}`,
    );
  });

  it('refuses commands beyond a full mailbox with a retryable error, and loses none it accepted', async () => {
    const actors = system(opened.store, { mailboxLimit: 3 });
    const conversationId = deterministicId('actors/mailbox');
    const outcomes = await Promise.allSettled(
      Array.from({ length: 20 }, (_, n) =>
        actors.send(conversationId, webhook(conversationId, text(n)), context),
      ),
    );
    const refused = outcomes.filter((o) => o.status === 'rejected');
    assert.ok(refused.length > 0);
    for (const outcome of refused) {
      const error = (outcome as PromiseRejectedResult).reason as AppError;
      assert.equal(error.code, 'actor.mailbox_full');
      assert.equal(error.status, 503);
      assert.equal(error.headers['retry-after'], '1');
    }
    const accepted = outcomes.filter((o) => o.status === 'fulfilled').length;
    const events = await opened.store.readStream(`conversation-${conversationId}`);
    assert.equal(events.filter((event) => event.type === 'MessageReceived').length, accepted);
  });

  it('passivates idle actors and rehydrates them from the stream', async () => {
    const actors = system(opened.store, { idleMs: 10 });
    const conversationId = deterministicId('actors/passivate');
    await actors.send(conversationId, webhook(conversationId, text(1)), context);
    assert.equal(actors.size, 1);
    while (actors.size > 0) await new Promise((resolve) => setTimeout(resolve, 10));
    // Rehydrated: it knows message 1 already.
    const again = await actors.send(conversationId, webhook(conversationId, text(1), text(2)), context);
    assert.equal(again.events, 1);
    const stored = await opened.store.readStream(`conversation-${conversationId}`);
    assert.equal(stored.filter((event) => event.type === 'MessageReceived').length, 2);
  });

  it('refuses one command without disturbing the next', async () => {
    const actors = system();
    const conversationId = deterministicId('actors/refusal');
    await actors.send(conversationId, webhook(conversationId, text(1)), context);
    const refused = actors.send(
      conversationId,
      { type: 'Resolve', visibility: { all: true }, by: 'someone' },
      { organizationId: deterministicId('actors/other-org'), actor: 'someone' },
    );
    const next = actors.send(conversationId, webhook(conversationId, text(2)), context);
    await assert.rejects(refused, (error: AppError) => error.code === 'http.not_found');
    assert.equal((await next).events, 1);
  });
});
