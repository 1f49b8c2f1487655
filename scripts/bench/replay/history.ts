/**
 * A realistic event history for bench:replay, in the shapes the server records (schemas/events):
 * per organization the identity streams (organization, users, roles, departments, queues, the
 * WhatsApp number and their unique-value reservations), then its conversations. A conversation is a
 * customer writing a few messages, an agent (assigned through a queue) answering, the answer going
 * through queued → attempted → sent → delivered → read, with notes, labels, resolutions, snoozes and
 * reopenings along the way. A seeded generator makes the same shape on every run (ids are random).
 */
import { randomUUID } from 'node:crypto';
import { contactIdFor } from '../../../src/conversation/contact.ts';
import { conversationIdFor } from '../../../src/conversation/conversationActor.ts';
import { deterministicId } from '../../../src/eventsourcing/deterministicId.ts';
import type { EventMetadata, NewEvent } from '../../../src/eventstore/eventStore.ts';

export type Organization = {
  id: string;
  name: string;
  channelId: string;
  phoneNumberId: string;
  admins: string[];
  agents: string[];
  queues: { id: string; agentIds: string[] }[];
};

/** One stream to create, with every event it starts with. */
export type StreamStart = { streamName: string; events: NewEvent[] };

/** mulberry32: a small seeded generator, so that every run draws the same history shape. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const pick = <T>(random: () => number, items: readonly T[]): T =>
  items[Math.floor(random() * items.length)] as T;

const metadata = (organizationId: string, actor: string, at: number): EventMetadata => ({
  organizationId,
  correlationId: randomUUID(),
  causationId: null,
  actor,
  occurredAt: new Date(at).toISOString(),
  schemaVersion: 1,
});

const event = (type: string, data: unknown, meta: EventMetadata, id: string = randomUUID()): NewEvent => ({
  id,
  type,
  data,
  metadata: meta,
});

// An argon2id hash's shape (the identity projection stores it as text; nothing verifies it here).
const passwordHash =
  '$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Jq5rb0y1vVhTR9Uf3mF9sWk1nqg1a8l3Zs8dQqJXkzI';
const permissions = ['conversations.read', 'conversations.reply', 'contacts.read', 'reports.read'];
// A sealed secret's size (AES-GCM of a ~200-character Graph token, base64).
const sealed = `v1.${'A'.repeat(320)}`;

/**
 * The organizations and their identity streams, as signup, user, team and channel routes append
 * them. `users` per organization: a tenth are org admins, the rest agents, spread over four queues.
 */
export function organizations(
  count: number,
  users: number,
  start: number,
): {
  organizations: Organization[];
  streams: StreamStart[];
} {
  const result: Organization[] = [];
  const streams: StreamStart[] = [];
  for (let index = 0; index < count; index += 1) {
    const id = randomUUID();
    let at = start + index * 60_000;
    const next = () => {
      at += 1_000;
      return at;
    };
    const ownerId = randomUUID();
    const adminCount = Math.max(1, Math.round(users / 10));
    const userIds = [ownerId, ...Array.from({ length: Math.max(0, users - 1) }, () => randomUUID())];
    const admins = userIds.slice(0, adminCount);
    const agents = userIds.slice(adminCount);
    const org: Organization = {
      id,
      name: `Loja Exemplo ${index}`,
      channelId: randomUUID(),
      phoneNumberId: String(106_540_352_240_000 + index),
      admins,
      agents: agents.length > 0 ? agents : admins,
      queues: [],
    };
    const unique = (kind: string, value: string, ownerOf: string): StreamStart => ({
      streamName: `unique-${deterministicId(`${kind}:${value}`)}`,
      events: [
        event('UniqueValueReserved', { kind, value, ownerId: ownerOf }, metadata(id, ownerId, next())),
      ],
    });
    streams.push({
      streamName: `organization-${id}`,
      events: [
        event('OrganizationCreated', { organizationId: id, name: org.name }, metadata(id, ownerId, next())),
      ],
    });
    userIds.forEach((userId, n) => {
      const email = `user${n}@loja-${index}.example.com`;
      streams.push(unique('email', email, userId));
      const role = n < adminCount ? 'org_admin' : 'agent';
      const registered = { userId, email, name: `Atendente ${n} da loja ${index}`, role, passwordHash };
      const user = [event('UserRegistered', registered, metadata(id, ownerId, next()))];
      // Some users later change their name or password.
      if (n % 5 === 1)
        user.push(event('UserUpdated', { name: `Atendente ${n} (turno B)` }, metadata(id, userId, next())));
      streams.push({ streamName: `user-${userId}`, events: user });
    });
    const roleId = randomUUID();
    streams.push(unique('role_name', `${id}:supervisor`, roleId));
    streams.push({
      streamName: `role-${roleId}`,
      events: [
        event('RoleCreated', { roleId, name: 'supervisor', permissions }, metadata(id, ownerId, next())),
      ],
    });
    const departments = ['Vendas', 'Suporte'].map((name) => {
      const departmentId = randomUUID();
      streams.push({
        streamName: `department-${departmentId}`,
        events: [event('DepartmentCreated', { departmentId, name }, metadata(id, ownerId, next()))],
      });
      return departmentId;
    });
    ['Pedidos', 'Trocas', 'Pagamentos', 'Geral'].forEach((name, q) => {
      const queueId = randomUUID();
      const agentIds = org.agents.filter((_, n) => n % 4 === q);
      org.queues.push({ id: queueId, agentIds: agentIds.length > 0 ? agentIds : [org.agents[0] as string] });
      const data = { queueId, name, departmentId: departments[q % 2] ?? null, agentIds };
      streams.push({
        streamName: `queue-${queueId}`,
        events: [event('QueueCreated', data, metadata(id, ownerId, next()))],
      });
    });
    streams.push(unique('phone_number_id', org.phoneNumberId, org.channelId));
    const channel = {
      channelId: org.channelId,
      name: `WhatsApp ${org.name}`,
      phoneNumberId: org.phoneNumberId,
      displayPhoneNumber: `+55 11 4000-${String(1000 + index)}`,
      wabaId: '102290129340398',
      accessTokenSealed: sealed,
      appSecretSealed: null,
      verifyTokenSealed: null,
    };
    streams.push({
      streamName: `channel-${org.channelId}`,
      events: [
        event('ChannelConnected', channel, metadata(id, ownerId, next())),
        event('ChannelUpdated', { sendRatePerSecond: 80 }, metadata(id, ownerId, next())),
      ],
    });
    result.push(org);
  }
  return { organizations: result, streams };
}

const customerTexts = [
  'Oi, boa tarde!',
  'Gostaria de saber o status do meu pedido, fiz a compra ontem e ainda não recebi o código de rastreio.',
  'Vocês entregam no sábado?',
  'O produto chegou com defeito, a tampa está quebrada. Como faço a troca?',
  'Obrigado!',
  'Qual o prazo para reembolso no cartão de crédito? Já faz uma semana que devolvi.',
  'Tem esse modelo no tamanho 42?',
  'Perfeito, pode confirmar então.',
];
const agentTexts = [
  'Olá! Sou da equipe de atendimento, vou verificar para você.',
  'Seu pedido foi enviado hoje pela manhã, o código de rastreio é BR123456789 e chega em até 3 dias úteis.',
  'Sim, entregamos aos sábados nas capitais.',
  'Sinto muito pelo ocorrido! Já abri a troca, você receberá uma etiqueta de devolução por e-mail.',
  'Disponha! Qualquer dúvida é só chamar.',
];
const noteTexts = [
  'Cliente VIP, priorizar.',
  'Pediu retorno por telefone depois das 18h.',
  'Troca aprovada pelo supervisor.',
];
const labels = ['vip', 'troca', 'reembolso', 'atraso', 'novo-cliente'];

/** One conversation of `org`: its id, customer and a generator of its events, endless. */
export function conversation(org: Organization, index: number, start: number, random: () => number) {
  const waId = `55119${String(index).padStart(8, '0')}`;
  const id = conversationIdFor(org.id, org.channelId, waId);
  return {
    id,
    waId,
    contactId: contactIdFor(org.id, waId),
    events: conversationEvents(org, id, waId, start, random),
  };
}

function* conversationEvents(
  org: Organization,
  conversationId: string,
  waId: string,
  start: number,
  random: () => number,
): Generator<NewEvent> {
  let at = start;
  /** The clock moves between 5 s and `maxSeconds` per event. */
  const later = (maxSeconds = 120) => {
    at += 5_000 + Math.floor(random() * maxSeconds * 1000);
    return at;
  };
  const org_ = org.id;
  const admin = pick(random, org.admins);
  yield event(
    'ConversationStarted',
    { conversationId, channelId: org.channelId, contact: { waId, name: `Cliente ${waId.slice(-4)}` } },
    metadata(org_, 'meta-webhook', later()),
    deterministicId(`${conversationId}/started`),
  );
  let status: 'open' | 'resolved' | 'pending' = 'open';
  let assignee: string | undefined;
  let wamids = 0;
  for (;;) {
    // 1. The customer writes one to three messages (a photo now and then).
    const messages = 1 + Math.floor(random() * 3);
    for (let m = 0; m < messages; m += 1) {
      if (status === 'resolved') {
        yield event(
          'ConversationReopened',
          { reason: 'customer_message', by: null },
          metadata(org_, 'meta-webhook', later()),
        );
        status = 'open';
      }
      wamids += 1;
      const waMessageId = `wamid.HBgNNTUxMTk${conversationId.slice(0, 8)}${wamids}`;
      const messageId = deterministicId(`${conversationId}/received/${waMessageId}`);
      const sentAt = later(600);
      const content =
        random() < 0.08
          ? {
              type: 'image',
              media: {
                id: `${1_000_000_000 + wamids}`,
                mimeType: 'image/jpeg',
                sha256: 'q2k3Yf0…',
                caption: 'foto do produto',
              },
            }
          : { type: 'text', text: pick(random, customerTexts) };
      const data = {
        messageId,
        waMessageId,
        sentAt: new Date(sentAt).toISOString(),
        content,
        context: null,
        referral: null,
      };
      yield event('MessageReceived', data, metadata(org_, 'meta-webhook', sentAt + 800), messageId);
    }
    // 2. A queue and an agent take it, the first time round (most conversations).
    if (assignee === undefined && random() < 0.85) {
      const queue = pick(random, org.queues);
      assignee = pick(random, queue.agentIds);
      yield event(
        'ConversationAssigned',
        { assigneeId: assignee, queueId: queue.id, by: admin },
        metadata(org_, admin, later()),
      );
    }
    const agent = assignee ?? admin;
    if (random() < 0.1) {
      const data = { noteId: randomUUID(), text: pick(random, noteTexts), authorId: agent };
      yield event('NoteAdded', data, metadata(org_, agent, later()));
    }
    if (random() < 0.06) {
      yield event('LabelAdded', { label: pick(random, labels), by: agent }, metadata(org_, agent, later()));
    }
    // 3. The agent answers; the sender sends; Meta reports delivery and (mostly) reading.
    const messageId = randomUUID();
    const queued = {
      messageId,
      clientMessageId: randomUUID(),
      channelId: org.channelId,
      to: waId,
      content: { type: 'text', text: pick(random, agentTexts) },
      replyTo: null,
      author: { kind: 'agent', id: agent },
    };
    yield event('MessageQueued', queued, metadata(org_, agent, later(300)));
    at += 40;
    yield event('MessageSendAttempted', { messageId, attempt: 1 }, metadata(org_, 'system', at));
    const waMessageId = `wamid.HBgNNTUxMTk${messageId.replaceAll('-', '').slice(0, 24).toUpperCase()}`;
    at += 300;
    yield event('MessageSent', { messageId, waMessageId }, metadata(org_, 'system', at));
    const delivered = { messageId, waMessageId, status: 'delivered', at: new Date(later(10)).toISOString() };
    yield event('MessageStatusUpdated', delivered, metadata(org_, 'meta-webhook', at + 500));
    if (random() < 0.8) {
      const read = { messageId, waMessageId, status: 'read', at: new Date(later(900)).toISOString() };
      yield event('MessageStatusUpdated', read, metadata(org_, 'meta-webhook', at + 500));
    }
    // 4. Sometimes it ends there: resolved, snoozed (and woken), or left pending.
    const outcome = random();
    if (outcome < 0.1) {
      yield event('ConversationResolved', { by: agent }, metadata(org_, agent, later()));
      status = 'resolved';
    } else if (outcome < 0.13) {
      const until = later(60) + 2 * 3600_000;
      yield event(
        'ConversationSnoozed',
        { until: new Date(until).toISOString(), by: agent },
        metadata(org_, agent, at),
      );
      at = until + 30_000;
      yield event('ConversationReopened', { reason: 'snooze_ended', by: null }, metadata(org_, 'system', at));
    } else if (outcome < 0.15) {
      yield event('ConversationMarkedPending', { by: agent }, metadata(org_, agent, later()));
      status = 'pending';
    }
  }
}
