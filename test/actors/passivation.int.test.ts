import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ActorSystem } from '../../src/actors/actorSystem.ts';
import { conversationBehaviour } from '../../src/conversation/conversationActor.ts';
import type { ConversationCommand } from '../../src/conversation/conversationCommands.ts';
import type { ConversationState } from '../../src/conversation/conversationState.ts';
import { deterministicId } from '../../src/eventsourcing/deterministicId.ts';
import { openTestEventStore } from '../support/database.ts';

const organizationId = deterministicId('passivation/org');
const command = (conversationId: string): ConversationCommand => ({
  type: 'ReceiveWebhook',
  conversationId,
  channelId: deterministicId('passivation/channel'),
  contact: { waId: '15550100000', name: 'Ana' },
  messages: [
    {
      waMessageId: `wamid.${conversationId}`,
      from: '15550100000',
      sentAt: new Date().toISOString(),
      content: { type: 'text', text: 'hi' },
    },
  ],
  statuses: [],
});

describe('actor passivation', { timeout: 60_000 }, () => {
  let opened: Awaited<ReturnType<typeof openTestEventStore>>;
  before(async () => {
    opened = await openTestEventStore('passivation');
  });
  after(async () => {
    await opened?.close();
  });

  it('tells its listeners the key of each actor it drops from memory, once idle', async () => {
    const actors = new ActorSystem<ConversationCommand, ConversationState>(
      opened.store,
      conversationBehaviour(),
      {
        mailboxLimit: 10,
        idleMs: 50,
        maxConflictRetries: 5,
      },
    );
    const dropped: string[] = [];
    const stop = actors.onPassivate((key) => dropped.push(key));
    const [first, second] = [deterministicId('passivation/1'), deterministicId('passivation/2')];
    await actors.send(first, command(first), { organizationId, actor: 'meta-webhook' });
    await actors.send(second, command(second), { organizationId, actor: 'meta-webhook' });
    while (actors.size > 0) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.deepEqual(dropped.sort(), [first, second].sort());

    stop();
    await actors.send(first, command(first), { organizationId, actor: 'meta-webhook' });
    while (actors.size > 0) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(dropped.length, 2, 'an unsubscribed listener hears nothing more');
  });
});
