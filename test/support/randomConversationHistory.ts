/**
 * A seeded random history of conversation and contact events, as the projections receive them from
 * `$all`: every conversation event type, interleaved across conversations, with what a hard day
 * brings — Meta's statuses duplicated and out of order (read before delivered, delivered after failed),
 * webhooks delivered twice (the same message again), a customer writing to two numbers (two
 * conversations, one contact), a conversation started twice, profile renames and agent-set names and attributes, notes added twice,
 * labels removed that were never added, assignments to nobody, bot runs, snoozes, and a few events on
 * conversations that never started. Every event matches its schema (the test checks).
 */
import { randomUUID } from 'node:crypto';
import { seededRandom } from '../../scripts/bench/replay/history.ts';
import { contactIdFor, contactStream } from '../../src/conversation/contact.ts';
import { conversationIdFor } from '../../src/conversation/conversationActor.ts';
import { conversationStream } from '../../src/conversation/conversationEvents.ts';
import type { RecordedEvent } from '../../src/eventstore/eventStore.ts';

type Org = { id: string; channels: string[]; agents: string[]; queues: string[] };

type Conversation = {
  org: Org;
  id: string;
  stream: string;
  waId: string;
  channelId: string;
  revision: bigint;
  neverStarts: boolean;
  inbound: { messageId: string; waMessageId: string; data: unknown }[];
  outbound: { messageId: string; waMessageId: string }[];
  notes: string[];
  run: { runId: string; turn: number } | null;
};

const labels = ['vip', 'troca', 'reembolso', 'atraso'];
const texts = [
  'Oi!',
  'Qual o prazo de entrega?',
  'O produto chegou quebrado 😞',
  `${'longo '.repeat(60)}fim`,
];

export function randomConversationHistory(options: {
  events: number;
  seed: number;
  organizations?: number;
  customers?: number;
}): RecordedEvent[] {
  const random = seededRandom(options.seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const chance = (p: number) => random() < p;
  const orgs: Org[] = Array.from({ length: options.organizations ?? 3 }, () => ({
    id: randomUUID(),
    channels: [randomUUID(), randomUUID()],
    agents: [randomUUID(), randomUUID(), randomUUID()],
    queues: [randomUUID(), randomUUID()],
  }));
  // Customers write to one number, some to both: two conversations share their contact.
  const conversations: Conversation[] = [];
  for (let index = 0; index < (options.customers ?? 400); index += 1) {
    const org = orgs[index % orgs.length] as Org;
    const waId = `5511${String(900_000_000 + index)}`;
    const channels = chance(0.2) ? org.channels : [pick(org.channels)];
    for (const channelId of channels) {
      const id = conversationIdFor(org.id, channelId, waId);
      conversations.push({
        org,
        id,
        stream: conversationStream(id),
        waId,
        channelId,
        revision: -1n,
        // A few conversations have events but never started (the projection must not invent them).
        neverStarts: chance(0.02),
        inbound: [],
        outbound: [],
        notes: [],
        run: null,
      });
    }
  }
  const contactRevisions = new Map<string, bigint>();
  const history: RecordedEvent[] = [];
  let clock = Date.parse('2026-11-20T08:00:00.000Z');
  const record = (org: Org, stream: string, revision: bigint, type: string, data: unknown, actor: string) => {
    clock += 1 + Math.floor(random() * 20_000);
    const occurredAt = new Date(clock).toISOString();
    history.push({
      id: randomUUID(),
      type,
      data,
      metadata: {
        organizationId: org.id,
        correlationId: randomUUID(),
        causationId: null,
        actor,
        occurredAt,
        schemaVersion: 1,
      },
      streamName: stream,
      revision,
      position: BigInt(history.length + 1),
      recordedAt: new Date(clock + 5),
    });
  };
  const at = (offsetMs: number) => new Date(clock + offsetMs).toISOString();

  while (history.length < options.events) {
    const c = pick(conversations);
    const agent = pick(c.org.agents);
    const emit = (type: string, data: unknown, actor = agent) => {
      c.revision += 1n;
      record(c.org, c.stream, c.revision, type, data, actor);
    };
    if (c.revision === -1n && !c.neverStarts) {
      emit(
        'ConversationStarted',
        {
          conversationId: c.id,
          channelId: c.channelId,
          contact: { waId: c.waId, name: chance(0.9) ? `Cliente ${c.waId.slice(-4)}` : null },
        },
        'meta-webhook',
      );
      continue;
    }
    const roll = random();
    if (roll < 0.005) {
      // The conversation's first event, recorded again (a name may have changed meanwhile).
      emit(
        'ConversationStarted',
        {
          conversationId: c.id,
          channelId: c.channelId,
          contact: { waId: c.waId, name: `Cliente ${random().toFixed(2)}` },
        },
        'meta-webhook',
      );
    } else if (roll < 0.22) {
      // The customer writes; now and then Meta delivers the same message again.
      const again = c.inbound.length > 0 && chance(0.08) ? pick(c.inbound) : null;
      if (again) {
        emit('MessageReceived', again.data, 'meta-webhook');
        continue;
      }
      const waMessageId = `wamid.in.${randomUUID()}`;
      const messageId = randomUUID();
      const content = chance(0.15)
        ? {
            type: 'image',
            media: {
              id: String(Math.floor(random() * 1e12)),
              mimeType: 'image/jpeg',
              ...(chance(0.5) ? { caption: 'foto' } : {}),
            },
          }
        : chance(0.05)
          ? { type: 'location', location: { latitude: -23.55, longitude: -46.63 } }
          : { type: 'text', text: pick(texts) };
      const data = {
        messageId,
        waMessageId,
        sentAt: at(-Math.floor(random() * 60_000)),
        content,
        context: null,
        referral: null,
      };
      c.inbound.push({ messageId, waMessageId, data });
      emit('MessageReceived', data, 'meta-webhook');
    } else if (roll < 0.34) {
      const messageId = randomUUID();
      c.outbound.push({ messageId, waMessageId: `wamid.out.${randomUUID()}` });
      const author = chance(0.7)
        ? { kind: 'agent', id: agent }
        : chance(0.5)
          ? { kind: 'bot', id: null }
          : { kind: 'system', id: null };
      emit('MessageQueued', {
        messageId,
        clientMessageId: chance(0.5) ? randomUUID() : null,
        channelId: c.channelId,
        to: c.waId,
        content: { type: 'text', text: pick(texts) },
        replyTo: null,
        author,
      });
    } else if (roll < 0.56 && c.outbound.length > 0) {
      // The sender and Meta's statuses, in any order, some twice.
      const message = pick(c.outbound);
      const kind = random();
      if (kind < 0.15)
        emit(
          'MessageSendAttempted',
          { messageId: message.messageId, attempt: 1 + Math.floor(random() * 3) },
          'system',
        );
      else if (kind < 0.2)
        emit(
          'MessageSendDeferred',
          {
            messageId: message.messageId,
            attempt: 1,
            error: { code: 503, title: 'Service unavailable' },
            retryAt: at(5_000),
          },
          'system',
        );
      else if (kind < 0.4)
        emit('MessageSent', { messageId: message.messageId, waMessageId: message.waMessageId }, 'system');
      else if (kind < 0.9) {
        const status = pick(['sent', 'delivered', 'delivered', 'read']);
        emit(
          'MessageStatusUpdated',
          { messageId: message.messageId, waMessageId: message.waMessageId, status, at: at(-1000) },
          'meta-webhook',
        );
      } else {
        const error = {
          code: 131026,
          title: 'Message undeliverable',
          ...(chance(0.5) ? { message: 'receiver incapable' } : {}),
        };
        emit(
          'MessageFailed',
          {
            messageId: message.messageId,
            waMessageId: chance(0.7) ? message.waMessageId : null,
            error,
            at: at(-500),
          },
          'meta-webhook',
        );
      }
    } else if (roll < 0.6) {
      emit(
        'MessageStatusDeferred',
        { waMessageId: `wamid.unknown.${randomUUID()}`, status: 'delivered', at: at(0), errors: [] },
        'meta-webhook',
      );
    } else if (roll < 0.66) {
      emit('ConversationAssigned', {
        assigneeId: chance(0.85) ? agent : null,
        queueId: chance(0.7) ? pick(c.org.queues) : null,
        by: agent,
      });
    } else if (roll < 0.7) {
      emit('ConversationResolved', { by: agent });
    } else if (roll < 0.73) {
      emit(
        'ConversationReopened',
        { reason: pick(['customer_message', 'snooze_ended', 'agent']), by: null },
        'system',
      );
    } else if (roll < 0.75) {
      emit('ConversationSnoozed', { until: at(3600_000), by: agent });
    } else if (roll < 0.77) {
      emit('ConversationMarkedPending', { by: agent });
    } else if (roll < 0.8) {
      // A note, now and then the same one again (a retried command).
      const noteId = c.notes.length > 0 && chance(0.2) ? pick(c.notes) : randomUUID();
      c.notes.push(noteId);
      emit('NoteAdded', { noteId, text: `Nota ${random().toFixed(3)}`, authorId: agent });
    } else if (roll < 0.84) {
      emit(chance(0.6) ? 'LabelAdded' : 'LabelRemoved', { label: pick(labels), by: agent });
    } else if (roll < 0.86) {
      emit('ContactProfileChanged', { name: `Perfil ${random().toFixed(4)}` }, 'meta-webhook');
    } else if (roll < 0.89) {
      // Agents rename the contact or edit its attributes, on the contact's own stream.
      const contactId = contactIdFor(c.org.id, c.waId);
      const revision = (contactRevisions.get(contactId) ?? -1n) + 1n;
      contactRevisions.set(contactId, revision);
      const data = chance(0.4)
        ? { name: chance(0.7) ? `Nome ${random().toFixed(3)}` : null }
        : chance(0.5)
          ? {
              attributes: {
                plano: pick(['ouro', 'prata']),
                pedidos: Math.floor(random() * 9),
                ativo: chance(0.5),
                ...(chance(0.3) ? { cidade: null } : { cidade: 'SP' }),
              },
            }
          : { name: `Nome ${random().toFixed(3)}`, attributes: { plano: null } };
      record(c.org, contactStream(contactId), revision, 'ContactUpdated', data, agent);
    } else {
      // A bot run: started, advanced (waiting for an answer or an API call), ended, resumed.
      const flowId = '7d9b6a3e-3f0c-4a71-9a55-0c1c1f1f0001';
      const step = random();
      if (c.run === null || step < 0.2) {
        c.run = { runId: randomUUID(), turn: 0 };
        emit(
          'FlowRunStarted',
          {
            runId: c.run.runId,
            chatbotId: null,
            flowId,
            version: 1,
            trigger: { type: 'default', value: null },
          },
          'bot',
        );
      } else if (step < 0.76) {
        c.run.turn += 1;
        const waiting = chance(0.5)
          ? { kind: 'answer', nodeId: 'ask', retries: 0, timeoutAt: chance(0.5) ? at(60_000) : null }
          : chance(0.5)
            ? {
                kind: 'api',
                nodeId: 'crm',
                requestId: randomUUID(),
                request: {
                  method: 'POST',
                  url: 'https://crm.example.com/leads',
                  headers: { 'x-key': '{{secret.crm}}' },
                  body: '{}',
                  timeoutMs: 5000,
                },
              }
            : null;
        emit(
          'FlowAdvanced',
          {
            runId: c.run.runId,
            turn: c.run.turn,
            flowId,
            version: 1,
            steps: [{ flowId, version: 1, nodeId: 'ask', type: 'question' }],
            set: { name: 'Ana' },
            waiting,
          },
          'bot',
        );
      } else if (step < 0.93) {
        emit(
          'FlowEnded',
          { runId: c.run.runId, reason: pick(['completed', 'handoff', 'agent_takeover']), detail: null },
          'bot',
        );
      } else {
        emit('BotResumed', { by: agent });
      }
    }
  }
  return history;
}
