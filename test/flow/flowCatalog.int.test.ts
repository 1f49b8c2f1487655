import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { DatabasePool } from 'slonik';
import { conversationsProjection } from '../../projections/conversations.ts';
import { flowsProjection } from '../../projections/flows.ts';
import { contactIdFor, contactStream } from '../../src/conversation/contact.ts';
import { conversationIdFor } from '../../src/conversation/conversationActor.ts';
import { toNewEvents } from '../../src/eventsourcing/commandHandler.ts';
import { FlowCatalog } from '../../src/flow/flowCatalog.ts';
import type { FlowDefinition } from '../../src/flow/flowDefinition.ts';
import { chatbotStream, flowStream } from '../../src/flow/flowEvents.ts';
import { ProjectionRunner } from '../../src/projection/projectionRunner.ts';
import { openTestEventStore, testLogger } from '../support/database.ts';

const definition = (text: string): FlowDefinition => ({
  start: 'a',
  nodes: [
    { id: 'a', type: 'text', text, next: 'b' },
    { id: 'b', type: 'end' },
  ],
});

describe('flow catalog', { timeout: 60_000 }, () => {
  let env: Awaited<ReturnType<typeof openTestEventStore>>;
  let runner: ProjectionRunner;
  /** The pool as the catalog sees it, counting the tenant transactions (one per catalog query). */
  let counted: DatabasePool;
  let queries = 0;
  before(async () => {
    env = await openTestEventStore('flow_catalog');
    runner = new ProjectionRunner(
      env.store,
      env.pool,
      [flowsProjection, conversationsProjection],
      testLogger,
    );
    await runner.start();
    counted = new Proxy(env.pool, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (property !== 'transaction' || typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          queries += 1;
          return value.apply(target, args);
        };
      },
    });
  });
  after(async () => {
    await runner?.stop();
    await env?.close();
  });

  const append = async (organizationId: string, stream: string, type: string, data: unknown) => {
    const { position } = await env.store.appendToStream(
      stream,
      toNewEvents([{ type, data }], { organizationId, actor: 'system' }),
    );
    await runner.waitFor(position, type);
  };
  const saveFlow = (org: string, flowId: string, version: number, text = `v${version}`) =>
    append(org, flowStream(flowId), 'FlowDraftSaved', {
      flowId,
      version,
      name: 'Flow',
      definition: definition(text),
    });
  const publish = (org: string, flowId: string, version: number) =>
    append(org, flowStream(flowId), 'FlowPublished', { flowId, version });
  const createChatbot = async (
    org: string,
    channelId: string,
    flowId: string,
    options: { enabled?: boolean; name?: string } = {},
  ) => {
    const chatbotId = randomUUID();
    await append(org, chatbotStream(chatbotId), 'ChatbotCreated', {
      chatbotId,
      name: options.name ?? 'Bot',
      channelId,
      flowId,
      triggers: [{ type: 'keyword', value: 'hi' }, { type: 'default' }],
      businessHours: null,
      enabled: options.enabled ?? true,
    });
    return chatbotId;
  };
  /** How many queries `action` made. */
  const counting = async <T>(action: () => Promise<T>): Promise<{ result: T; made: number }> => {
    const start = queries;
    const result = await action();
    return { result, made: queries - start };
  };

  it('serves the name and attributes agents set on a contact, from cache until invalidate', async () => {
    const org = randomUUID();
    const channelId = randomUUID();
    const waId = '15550800001';
    const catalog = new FlowCatalog(counted);
    assert.equal(await catalog.contact(org, waId), null);

    const conversationId = conversationIdFor(org, channelId, waId);
    await append(org, `conversation-${conversationId}`, 'ConversationStarted', {
      conversationId,
      channelId,
      contact: { waId, name: 'Ana from WhatsApp' },
    });
    const contact = contactStream(contactIdFor(org, waId));
    await append(org, contact, 'ContactUpdated', { name: 'Ana Souza', attributes: { plan: 'gold' } });
    // The earlier "nobody" is what a bot turn sees until the cache is dropped (the app drops it
    // when the conversations projection applies a ContactUpdated).
    assert.equal((await counting(() => catalog.contact(org, waId))).made, 0);
    catalog.invalidate();
    assert.deepEqual(await catalog.contact(org, waId), { name: 'Ana Souza', attributes: { plan: 'gold' } });
    // Another organization's customer with the same number is another contact.
    assert.equal(await catalog.contact(randomUUID(), waId), null);
  });

  it("serves a channel's enabled chatbots oldest first, from cache until the TTL passes or invalidate", async () => {
    const org = randomUUID();
    const channelId = randomUUID();
    const flowId = randomUUID();
    await saveFlow(org, flowId, 1);
    await publish(org, flowId, 1);
    const first = await createChatbot(org, channelId, flowId, { name: 'First' });
    await createChatbot(org, channelId, flowId, { enabled: false });
    const second = await createChatbot(org, channelId, flowId, { name: 'Second' });
    await createChatbot(org, randomUUID(), flowId);

    let now = 1_000_000;
    const catalog = new FlowCatalog(counted, { ttlMs: 5000, now: () => now });
    const loaded = await counting(() => catalog.chatbotsFor(org, channelId));
    assert.equal(loaded.made, 1);
    assert.deepEqual(
      loaded.result.map((chatbot) => chatbot.id),
      [first, second],
    );
    assert.deepEqual(loaded.result[0], {
      id: first,
      name: 'First',
      channelId,
      flowId,
      triggers: [{ type: 'keyword', value: 'hi' }, { type: 'default' }],
      businessHours: null,
      enabled: true,
    });

    // Cached: a change is not seen until the TTL passes…
    await append(org, chatbotStream(first), 'ChatbotUpdated', { enabled: false });
    const cached = await counting(() => catalog.chatbotsFor(org, channelId.toUpperCase()));
    assert.equal(cached.made, 0);
    assert.equal(cached.result.length, 2);
    now += 5001;
    const expired = await counting(() => catalog.chatbotsFor(org, channelId));
    assert.equal(expired.made, 1);
    assert.deepEqual(
      expired.result.map((chatbot) => chatbot.id),
      [second],
    );

    // …or invalidate drops it at once.
    await append(org, chatbotStream(first), 'ChatbotUpdated', { enabled: true, name: 'Back' });
    assert.equal((await counting(() => catalog.chatbotsFor(org, channelId))).made, 0);
    catalog.invalidate();
    const fresh = await counting(() => catalog.chatbotsFor(org, channelId));
    assert.equal(fresh.made, 1);
    assert.deepEqual(
      fresh.result.map((chatbot) => chatbot.name),
      ['Back', 'Second'],
    );
    // A channel with no chatbot is cached too.
    const none = randomUUID();
    assert.deepEqual(await catalog.chatbotsFor(org, none), []);
    assert.equal((await counting(() => catalog.chatbotsFor(org, none))).made, 0);
  });

  it('caches published versions for the TTL, absent flows included', async () => {
    const org = randomUUID();
    const flowId = randomUUID();
    await saveFlow(org, flowId, 1);
    const catalog = new FlowCatalog(counted);
    assert.equal(await catalog.publishedVersion(org, flowId), null);
    await publish(org, flowId, 1);
    assert.equal((await counting(() => catalog.publishedVersion(org, flowId))).result, null, 'cached');
    catalog.invalidate();
    assert.deepEqual(await counting(() => catalog.publishedVersion(org, flowId)), { result: 1, made: 1 });
    const unknown = randomUUID();
    assert.equal(await catalog.publishedVersion(org, unknown), null);
    assert.deepEqual(await counting(() => catalog.publishedVersion(org, unknown)), { result: null, made: 0 });
    assert.deepEqual(await counting(() => catalog.publishedVersion(org, 'not-a-uuid')), {
      result: null,
      made: 0,
    });
  });

  it('keeps definitions without expiry, evicting the least recently used past its bound', async () => {
    const org = randomUUID();
    const flowId = randomUUID();
    for (const version of [1, 2, 3]) await saveFlow(org, flowId, version);
    const catalog = new FlowCatalog(counted, { maxDefinitions: 2 });
    assert.deepEqual(await catalog.definition(org, flowId, 1), definition('v1'));
    assert.deepEqual(await catalog.definition(org, flowId, 2), definition('v2'));
    catalog.invalidate();
    assert.equal(
      (await counting(() => catalog.definition(org, flowId, 1))).made,
      0,
      'invalidate keeps definitions',
    );
    // 1 was just used: loading 3 evicts 2.
    assert.equal((await counting(() => catalog.definition(org, flowId, 3))).made, 1);
    assert.equal((await counting(() => catalog.definition(org, flowId, 1))).made, 0);
    assert.equal((await counting(() => catalog.definition(org, flowId, 2))).made, 1);
    // A version not saved yet is not remembered as missing.
    assert.equal(await catalog.definition(org, flowId, 4), null);
    await saveFlow(org, flowId, 4);
    assert.deepEqual(await catalog.definition(org, flowId, 4), definition('v4'));
  });

  it('shares one query between concurrent misses for the same key', async () => {
    const org = randomUUID();
    const channelId = randomUUID();
    const flowId = randomUUID();
    await saveFlow(org, flowId, 1);
    await publish(org, flowId, 1);
    await createChatbot(org, channelId, flowId);
    const catalog = new FlowCatalog(counted);
    const many = <T>(load: () => Promise<T>) => counting(() => Promise.all(Array.from({ length: 20 }, load)));

    const chatbots = await many(() => catalog.chatbotsFor(org, channelId));
    assert.equal(chatbots.made, 1);
    assert.ok(chatbots.result.every((list) => list.length === 1));
    const versions = await many(() => catalog.publishedVersion(org, flowId));
    assert.equal(versions.made, 1);
    assert.ok(versions.result.every((version) => version === 1));
    const definitions = await many(() => catalog.definition(org, flowId, 1));
    assert.equal(definitions.made, 1);
    assert.ok(definitions.result.every((found) => found?.start === 'a'));
    // Different keys do not wait on each other.
    const mixed = await counting(() =>
      Promise.all([catalog.publishedVersion(org, randomUUID()), catalog.publishedVersion(org, randomUUID())]),
    );
    assert.equal(mixed.made, 2);
  });

  it('does not cache what a query read before an invalidate, nor let later callers join it', async () => {
    const org = randomUUID();
    const flowId = randomUUID();
    await saveFlow(org, flowId, 1);
    const catalog = new FlowCatalog(counted);
    const { made } = await counting(async () => {
      const early = catalog.publishedVersion(org, flowId);
      catalog.invalidate();
      const late = catalog.publishedVersion(org, flowId);
      assert.deepEqual(await Promise.all([early, late]), [null, null]);
    });
    assert.equal(made, 2);
    // The second query started after the invalidate: its answer is cached.
    assert.equal((await counting(() => catalog.publishedVersion(org, flowId))).made, 0);
  });

  it('lets no organization see another one’s chatbots, versions or definitions', async () => {
    const orgA = randomUUID();
    const orgB = randomUUID();
    const channelId = randomUUID();
    const flowId = randomUUID();
    await saveFlow(orgA, flowId, 1);
    await publish(orgA, flowId, 1);
    await createChatbot(orgA, channelId, flowId);
    const catalog = new FlowCatalog(counted);
    assert.equal((await catalog.chatbotsFor(orgA, channelId)).length, 1);
    assert.equal(await catalog.publishedVersion(orgA, flowId), 1);
    assert.ok(await catalog.definition(orgA, flowId, 1));
    assert.deepEqual(await catalog.chatbotsFor(orgB, channelId), []);
    assert.equal(await catalog.publishedVersion(orgB, flowId), null);
    assert.equal(await catalog.definition(orgB, flowId, 1), null);
  });

  it('passes a failed query on to its callers and caches nothing', async () => {
    const catalog = new FlowCatalog(
      new Proxy(env.pool, {
        get(target, property, receiver) {
          if (property === 'transaction') return () => Promise.reject(new Error('database down'));
          return Reflect.get(target, property, receiver);
        },
      }),
    );
    const org = randomUUID();
    const channelId = randomUUID();
    await assert.rejects(
      Promise.all([catalog.chatbotsFor(org, channelId), catalog.chatbotsFor(org, channelId)]),
      /database down/,
    );
    await assert.rejects(catalog.chatbotsFor(org, channelId), /database down/);
  });
});
