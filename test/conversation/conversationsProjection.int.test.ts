import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql } from 'slonik';
import { conversationsProjection } from '../../projections/conversations.ts';
import { contactIdFor, contactStream } from '../../src/conversation/contact.ts';
import { conversationStream } from '../../src/conversation/conversationEvents.ts';
import { findContact, findConversation, listMessages } from '../../src/conversation/conversationQueries.ts';
import { toNewEvents } from '../../src/eventsourcing/commandHandler.ts';
import { ProjectionRunner } from '../../src/projection/projectionRunner.ts';
import { type ConversationDelta, InProcessDeltaBus } from '../../src/realtime/delta.ts';
import { openTestEventStore, testLogger } from '../support/database.ts';

describe('conversations projection', { timeout: 60_000 }, () => {
  let env: Awaited<ReturnType<typeof openTestEventStore>>;
  let runner: ProjectionRunner;
  const deltas: ConversationDelta[] = [];
  before(async () => {
    env = await openTestEventStore('conversations_projection');
    const bus = new InProcessDeltaBus();
    bus.subscribe((published) => deltas.push(...published));
    runner = new ProjectionRunner(env.store, env.pool, [conversationsProjection], testLogger, { bus });
    await runner.start();
  });
  after(async () => {
    await runner?.stop();
    await env?.close();
  });

  const org = randomUUID();
  const append = async (stream: string, events: { type: string; data: unknown }[]) => {
    const { position } = await env.store.appendToStream(
      stream,
      toNewEvents(events, { organizationId: org, actor: 'system' }),
    );
    await runner.waitFor(position, events.at(-1)?.type ?? '');
    return position;
  };

  it('publishes one delta per event, chained by position, each with the inbox item after it', async () => {
    const conversationId = randomUUID();
    const stream = conversationStream(conversationId);
    const [agentA, agentB, queueQ] = [randomUUID(), randomUUID(), randomUUID()];
    const messageIn = randomUUID();
    const messageOut = randomUUID();
    const events = [
      {
        type: 'ConversationStarted',
        data: { conversationId, channelId: randomUUID(), contact: { waId: '15550001111', name: 'Ana' } },
      },
      {
        type: 'MessageReceived',
        data: {
          messageId: messageIn,
          waMessageId: 'wamid.in-1',
          sentAt: '2026-11-26T09:00:00.000Z',
          content: { type: 'image', media: { id: '123', mimeType: 'image/jpeg', caption: 'the crack' } },
          context: null,
          referral: null,
        },
      },
      { type: 'ConversationAssigned', data: { assigneeId: agentA, queueId: queueQ, by: agentA } },
      {
        type: 'MessageQueued',
        data: {
          messageId: messageOut,
          clientMessageId: null,
          channelId: randomUUID(),
          to: '15550001111',
          content: { type: 'text', text: 'x'.repeat(300) },
          replyTo: null,
          author: { kind: 'bot', id: null },
        },
      },
      { type: 'MessageSendAttempted', data: { messageId: messageOut, attempt: 1 } },
      { type: 'MessageSent', data: { messageId: messageOut, waMessageId: 'wamid.out-1' } },
      {
        type: 'MessageStatusUpdated',
        data: {
          messageId: messageOut,
          waMessageId: 'wamid.out-1',
          status: 'read',
          at: '2026-11-26T09:01:00.000Z',
        },
      },
      // Out of order and stale: the status stays read.
      {
        type: 'MessageStatusUpdated',
        data: {
          messageId: messageOut,
          waMessageId: 'wamid.out-1',
          status: 'delivered',
          at: '2026-11-26T09:00:30.000Z',
        },
      },
      { type: 'ConversationAssigned', data: { assigneeId: agentB, queueId: null, by: agentA } },
      { type: 'LabelAdded', data: { label: 'vip', by: agentB } },
      { type: 'LabelAdded', data: { label: 'vip', by: agentB } },
      { type: 'NoteAdded', data: { noteId: randomUUID(), text: 'call back', authorId: agentB } },
      { type: 'ConversationSnoozed', data: { until: '2026-12-01T00:00:00.000Z', by: agentB } },
      { type: 'ContactProfileChanged', data: { name: 'Ana Souza' } },
    ];
    const from = deltas.length;
    // In two appends, so they may land in one batch or two: either way the chain holds.
    await append(stream, events.slice(0, 6));
    await append(stream, events.slice(6));
    const mine = deltas.slice(from).filter((delta) => delta.conversationId === conversationId);
    assert.deepEqual(
      mine.map((delta) => delta.event.type),
      events.map((event) => event.type),
    );
    let previous: string | null = null;
    for (const delta of mine) {
      assert.equal(delta.previous, previous);
      assert.equal(delta.organizationId, org);
      assert.equal(delta.inbox?.item.position, delta.position, 'the item is the state after this event');
      previous = delta.position;
    }
    // The audience is who saw it before and who sees it after.
    const reassigned = mine[8]?.inbox?.audience;
    assert.deepEqual(reassigned, { assigneeIds: [agentB, agentA], queueIds: [queueQ] });
    assert.deepEqual(mine[0]?.inbox?.audience, { assigneeIds: [], queueIds: [] });

    const item = await findConversation(env.pool, org, conversationId, { all: true });
    assert.deepEqual(mine.at(-1)?.inbox?.item, item, 'the last delta carries exactly the GET item');
    assert.equal(item?.status, 'snoozed');
    assert.equal(item?.snoozedUntil, '2026-12-01T00:00:00.000Z');
    assert.deepEqual(item?.labels, ['vip']);
    assert.equal(item?.assigneeId, agentB);
    assert.equal(item?.queueId, null);
    assert.equal(item?.unreadCount, 0, 'a bot answered');
    assert.equal(item?.contact.name, 'Ana Souza');
    assert.equal(item?.contact.id, contactIdFor(org, '15550001111'));
    assert.equal(item?.lastInboundAt, '2026-11-26T09:00:00.000Z');
    assert.equal(item?.lastMessage?.status, 'read');
    assert.equal(Array.from(item?.lastMessage?.text ?? '').length, 200);

    const messages = await listMessages(env.pool, org, conversationId, { limit: 10 });
    const [out, inbound] = messages.items;
    assert.equal(out?.status, 'read');
    assert.deepEqual(
      out?.statusHistory.map((s) => s.status),
      ['queued', 'sent', 'read'],
    );
    assert.equal(out?.text?.length, 300, 'the message keeps its whole text');
    assert.deepEqual(out?.author, { kind: 'bot', id: null });
    assert.equal(inbound?.text, 'the crack');
    assert.deepEqual(inbound?.media, { id: '123', mimeType: 'image/jpeg', caption: 'the crack' });
    assert.equal(inbound?.createdAt, '2026-11-26T09:00:00.000Z');
  });

  it("applies agents' contact changes to the contact and the name its conversations show, without a delta", async () => {
    const waId = '15550002222';
    const contactId = contactIdFor(org, waId);
    const first = randomUUID();
    const second = randomUUID();
    for (const conversationId of [first, second]) {
      await append(conversationStream(conversationId), [
        {
          type: 'ConversationStarted',
          data: { conversationId, channelId: randomUUID(), contact: { waId, name: 'Bruno' } },
        },
      ]);
    }
    const before = deltas.length;
    await append(contactStream(contactId), [
      { type: 'ContactUpdated', data: { name: 'Bruno (VIP)', attributes: { tier: 'gold', n: 1 } } },
      { type: 'ContactUpdated', data: { attributes: { n: null } } },
    ]);
    assert.equal(deltas.length, before);
    const contact = await findContact(env.pool, org, contactId);
    assert.equal(contact?.name, 'Bruno (VIP)');
    assert.equal(contact?.profileName, 'Bruno');
    assert.deepEqual(contact?.attributes, { tier: 'gold' });
    for (const conversationId of [first, second]) {
      const item = await findConversation(env.pool, org, conversationId, { all: true });
      assert.equal(item?.contact.name, 'Bruno (VIP)');
    }
    const rows = await env.pool.anyFirst(
      sql.unsafe`SELECT count(*) FROM rm.contacts WHERE organization_id = ${org} AND wa_id = ${waId}`,
    );
    assert.deepEqual(rows, [1n], 'one contact for both numbers');
  });
});
