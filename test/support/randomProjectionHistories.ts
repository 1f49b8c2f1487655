/**
 * Seeded random histories for the identity, outbound, conversation-timers, flows, flow-runs and
 * flow-secrets projections, as they receive them from `$all`: several organizations and streams
 * interleaved, every event type each handles, and what the guards are for — the same event delivered
 * again later (an old FlowAdvanced turn after newer ones, an older FlowDraftSaved, a MessageQueued
 * after its MessageSent, a snooze after the reopen that ended it), the same data again as a new event,
 * events on rows that do not exist (yet), ids in upper case, and times with offsets and microseconds.
 * Every event matches its schema (the test checks).
 */

import { seededRandom } from '../../scripts/bench/replay/history.ts';
import type { RecordedEvent } from '../../src/eventstore/eventStore.ts';
import { uuidPattern } from '../../src/lang/uuid.ts';

type Random = {
  next: () => number;
  chance: (p: number) => boolean;
  pick: <T>(items: readonly T[]) => T;
  int: (below: number) => number;
  uuid: () => string;
  /** `ms` as an ISO time: UTC to the millisecond, to the microsecond, or at +02:00. */
  time: (ms: number) => string;
};

function randomOf(seed: number): Random {
  const next = seededRandom(seed);
  const int = (below: number) => Math.floor(next() * below);
  const hex = (digits: number) => Array.from({ length: digits }, () => int(16).toString(16)).join('');
  return {
    next,
    chance: (p) => next() < p,
    pick: (items) => items[int(items.length)] as (typeof items)[number],
    int,
    uuid: () => `${hex(8)}-${hex(4)}-4${hex(3)}-${'89ab'[int(4)]}${hex(3)}-${hex(12)}`,
    time(ms) {
      const kind = int(3);
      if (kind === 0) return new Date(ms).toISOString();
      if (kind === 1)
        return new Date(ms).toISOString().replace('Z', `${String(int(1000)).padStart(3, '0')}Z`);
      return new Date(ms + 2 * 3600_000).toISOString().replace('Z', '+02:00');
    },
  };
}

const upperCaseIds = (value: unknown): unknown => {
  if (typeof value === 'string') return uuidPattern.test(value) ? value.toUpperCase() : value;
  if (Array.isArray(value)) return value.map(upperCaseIds);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, upperCaseIds(inner)]));
  }
  return value;
};

/**
 * Records events in `$all` order. Now and then, instead of the next event, one recorded earlier comes
 * again (the same stream, revision and data: a redelivery) or its data comes again as the next event
 * of its stream; now and then an event names its ids in upper case.
 */
class History {
  readonly events: RecordedEvent[] = [];
  private readonly revisions = new Map<string, bigint>();
  clock = Date.parse('2026-11-20T08:00:00.000Z');

  constructor(private readonly random: Random) {}

  emit(organizationId: string, streamName: string, type: string, data: unknown): void {
    const { random } = this;
    const earlier = this.events.length > 0 ? random.pick(this.events) : undefined;
    if (earlier && random.chance(0.05)) {
      this.push({ ...earlier });
      return;
    }
    const again = earlier && random.chance(0.03);
    this.clock += 1 + random.int(20_000);
    const [stream, eventType, eventData] = again
      ? [earlier.streamName, earlier.type, earlier.data]
      : [streamName, type, random.chance(0.05) ? upperCaseIds(data) : data];
    const revision = (this.revisions.get(stream) ?? -1n) + 1n;
    this.revisions.set(stream, revision);
    this.push({
      id: random.uuid(),
      type: eventType,
      data: eventData,
      metadata: {
        organizationId: again ? earlier.metadata.organizationId : organizationId,
        correlationId: random.uuid(),
        causationId: null,
        actor: 'system',
        occurredAt: random.time(this.clock),
        schemaVersion: 1,
      },
      streamName: stream,
      revision,
      position: 0n,
      recordedAt: new Date(this.clock),
    });
  }

  private push(event: RecordedEvent): void {
    this.events.push({ ...event, position: BigInt(this.events.length + 1) });
  }
}

function generate(
  seed: number,
  events: number,
  next: (random: Random, history: History) => void,
): RecordedEvent[] {
  const random = randomOf(seed);
  const history = new History(random);
  while (history.events.length < events) next(random, history);
  return history.events;
}

/** Each field now and then, at least one: an update's data. */
function someOf(r: Random, fields: Record<string, () => unknown>): Record<string, unknown> {
  const names = Object.keys(fields);
  const chosen = names.filter(() => r.chance(0.35));
  if (chosen.length === 0) chosen.push(r.pick(names));
  return Object.fromEntries(chosen.map((name) => [name, fields[name]?.()]));
}

/** `count` conversations of three organizations, each with what `more` adds. */
function conversationsOf<T>(seed: number, count: number, more: (random: Random) => T) {
  const random = randomOf(seed + 1);
  const orgs = [random.uuid(), random.uuid(), random.uuid()];
  return Array.from({ length: count }, (_, index) => ({
    org: orgs[index % orgs.length] as string,
    stream: `conversation-${random.uuid()}`,
    ...more(random),
  }));
}

const error = { code: 131000, title: 'Something went wrong' };

export function randomOutboundHistory(seed: number, events: number): RecordedEvent[] {
  const conversations = conversationsOf(seed, 40, (random) => ({
    channelId: random.uuid(),
    messages: [] as string[],
  }));
  return generate(seed, events, (r, history) => {
    const c = r.pick(conversations);
    const emit = (type: string, data: unknown) => history.emit(c.org, c.stream, type, data);
    if (c.messages.length === 0 || r.chance(0.25)) {
      const messageId = r.uuid();
      c.messages.push(messageId);
      emit('MessageQueued', {
        messageId,
        clientMessageId: r.chance(0.5) ? r.uuid() : null,
        channelId: c.channelId,
        to: `55119${String(r.int(1e8)).padStart(8, '0')}`,
        content: r.chance(0.8)
          ? { type: 'text', text: r.pick(['Oi!', 'Seu pedido saiu', '{"json": "no"}']) }
          : { type: 'image', media: { url: 'https://cdn.example.com/a.jpg', caption: 'foto' } },
        replyTo: r.chance(0.2) ? `wamid.${r.uuid()}` : null,
        author: r.chance(0.5) ? { kind: 'agent', id: r.uuid() } : { kind: 'bot', id: null },
      });
      return;
    }
    // The latest messages mostly; any message, even one sent long ago, now and then.
    const messageId = r.chance(0.7) ? (c.messages.at(-1) as string) : r.pick(c.messages);
    const kind = r.next();
    if (kind < 0.35) emit('MessageSendAttempted', { messageId, attempt: 1 + r.int(4) });
    else if (kind < 0.55)
      emit('MessageSendDeferred', {
        messageId,
        attempt: 1 + r.int(4),
        error,
        retryAt: r.time(history.clock + 30_000),
      });
    else if (kind < 0.85) emit('MessageSent', { messageId, waMessageId: `wamid.${r.uuid()}` });
    else
      emit('MessageFailed', {
        messageId,
        waMessageId: r.chance(0.5) ? `wamid.${r.uuid()}` : null,
        error,
        at: r.time(history.clock),
      });
  });
}

export function randomTimerHistory(seed: number, events: number): RecordedEvent[] {
  const conversations = conversationsOf(seed, 60, () => ({}));
  return generate(seed, events, (r, history) => {
    const c = r.pick(conversations);
    const agent = r.uuid();
    const kind = r.next();
    const [type, data] =
      kind < 0.45
        ? ['ConversationSnoozed', { until: r.time(history.clock + 3600_000 + r.int(86_400_000)), by: agent }]
        : kind < 0.7
          ? [
              'ConversationReopened',
              { reason: r.pick(['customer_message', 'agent', 'snooze_ended']), by: null },
            ]
          : kind < 0.85
            ? ['ConversationResolved', { by: agent }]
            : ['ConversationMarkedPending', { by: agent }];
    history.emit(c.org, c.stream, type, data);
  });
}

const variableSets = [
  '{}',
  '{"name": "Ana"}',
  '{"name": "Bia", "age": 31}',
  '{"ok": true, "empty": null, "order.id": "A-1"}',
  '{"__proto__": "kept as a variable", "age": 0.1}',
];

export function randomFlowRunHistory(seed: number, events: number): RecordedEvent[] {
  const flows = [randomOf(seed + 2).uuid(), randomOf(seed + 3).uuid()];
  const conversations = conversationsOf(seed, 40, () => ({ runs: [] as { runId: string; turn: number }[] }));
  return generate(seed, events, (r, history) => {
    const c = r.pick(conversations);
    const emit = (type: string, data: unknown) => history.emit(c.org, c.stream, type, data);
    const flowId = r.pick(flows);
    if (c.runs.length === 0 || r.chance(0.1)) {
      const runId = r.uuid();
      c.runs.push({ runId, turn: 0 });
      emit('FlowRunStarted', {
        runId,
        chatbotId: r.chance(0.8) ? r.uuid() : null,
        flowId,
        version: 1 + r.int(3),
        trigger: r.chance(0.5) ? { type: 'keyword', value: 'oi' } : { type: 'default', value: null },
      });
      return;
    }
    // The current run mostly; an older one, or one that never started, now and then.
    const run = r.chance(0.05)
      ? { runId: r.uuid(), turn: 0 }
      : r.chance(0.85)
        ? (c.runs.at(-1) as { runId: string; turn: number })
        : r.pick(c.runs);
    if (r.chance(0.2)) {
      emit('FlowEnded', {
        runId: run.runId,
        reason: r.pick(['completed', 'handoff', 'error', 'resolved']),
        detail: r.chance(0.5) ? null : 'no answer',
      });
      return;
    }
    // A turn number already taken (a stale timer's turn) now and then.
    run.turn = r.chance(0.1) ? Math.max(1, run.turn - r.int(2)) : run.turn + 1;
    const nodes = Array.from({ length: r.int(4) }, () => ({
      flowId,
      version: 1,
      nodeId: r.pick(['start', 'ask_name', 'crm', 'bye']),
      type: r.pick(['text', 'question', 'api_call', 'condition']),
    }));
    const kind = r.next();
    emit('FlowAdvanced', {
      runId: run.runId,
      turn: run.turn,
      flowId,
      version: 1 + r.int(3),
      steps: nodes,
      set: JSON.parse(r.pick(variableSets)),
      waiting:
        kind < 0.3
          ? {
              kind: 'answer',
              nodeId: 'ask_name',
              retries: r.int(3),
              timeoutAt: r.time(history.clock + 600_000),
            }
          : kind < 0.45
            ? { kind: 'answer', nodeId: 'ask_name', retries: 0, timeoutAt: null }
            : kind < 0.75
              ? {
                  kind: 'api',
                  nodeId: 'crm',
                  requestId: r.uuid(),
                  request: {
                    method: 'POST',
                    url: 'https://crm.example.com/leads',
                    headers: { 'x-key': '{{secret.crm}}' },
                    body: r.chance(0.5) ? '{"a":1}' : null,
                    timeoutMs: 5000,
                  },
                }
              : null,
    });
  });
}

export function randomIdentityHistory(seed: number, events: number): RecordedEvent[] {
  const random = randomOf(seed + 1);
  const orgs = Array.from({ length: 4 }, () => ({
    id: random.uuid(),
    users: Array.from({ length: 10 }, () => random.uuid()),
    channels: Array.from({ length: 4 }, () => random.uuid()),
    departments: [random.uuid(), random.uuid()],
  }));
  const hash = (r: Random) => `$argon2id$v=19$m=65536,t=3,p=4$${r.uuid()}`;
  return generate(seed, events, (r, history) => {
    const org = r.pick(orgs);
    const emit = (stream: string, type: string, data: unknown) => history.emit(org.id, stream, type, data);
    const kind = r.next();
    if (kind < 0.05) {
      emit(`organization-${org.id}`, 'OrganizationCreated', {
        organizationId: org.id,
        name: `Loja ${r.int(100)}`,
      });
    } else if (kind < 0.5) {
      const userId = r.pick(org.users);
      const roll = r.next();
      if (roll < 0.3) {
        emit(`user-${userId}`, 'UserRegistered', {
          userId,
          email: `Agente.${r.int(1000)}@Example.com`,
          name: `Agente ${r.int(100)}`,
          role: r.pick(['admin', 'agent']),
          passwordHash: hash(r),
        });
      } else if (roll < 0.85) {
        emit(`user-${userId}`, 'UserUpdated', {
          ...(r.chance(0.5) ? { name: `Nome ${r.int(100)}` } : {}),
          ...(r.chance(0.3) ? { role: r.pick(['admin', 'agent', 'supervisor']) } : {}),
          ...(r.chance(0.2) ? { passwordHash: hash(r) } : {}),
        });
      } else {
        emit(`user-${userId}`, 'UserDeleted', {});
      }
    } else if (kind < 0.6) {
      const roleId = r.uuid();
      emit(`role-${roleId}`, 'RoleCreated', {
        roleId,
        name: `Papel ${r.int(100)}`,
        permissions: r.chance(0.5) ? ['conversations.read', 'conversations.write'] : [],
      });
    } else if (kind < 0.65) {
      const departmentId = r.pick(org.departments);
      emit(`department-${departmentId}`, 'DepartmentCreated', { departmentId, name: `Depto ${r.int(100)}` });
    } else if (kind < 0.72) {
      const queueId = r.uuid();
      emit(`queue-${queueId}`, 'QueueCreated', {
        queueId,
        name: `Fila ${r.int(100)}`,
        departmentId: r.chance(0.5) ? r.pick(org.departments) : null,
        agentIds: org.users.filter(() => r.chance(0.3)),
      });
    } else {
      const channelId = r.pick(org.channels);
      const roll = r.next();
      if (roll < 0.3) {
        emit(`channel-${channelId}`, 'ChannelConnected', {
          channelId,
          name: `Número ${r.int(100)}`,
          phoneNumberId: String(1e14 + r.int(1e9)),
          displayPhoneNumber: '+55 11 4000-0000',
          wabaId: String(2e14 + r.int(1e9)),
          accessTokenSealed: `sealed:${r.uuid()}`,
          appSecretSealed: r.chance(0.5) ? `sealed:${r.uuid()}` : null,
          verifyTokenSealed: r.chance(0.5) ? `sealed:${r.uuid()}` : null,
          ...(r.chance(0.5) ? { sendRatePerSecond: 1 + r.int(80) } : {}),
        });
      } else if (roll < 0.85) {
        emit(
          `channel-${channelId}`,
          'ChannelUpdated',
          someOf(r, {
            name: () => `Número ${r.int(100)}`,
            sendRatePerSecond: () => (r.chance(0.5) ? 1 + r.int(80) : null),
          }),
        );
      } else {
        emit(`channel-${channelId}`, 'ChannelDisconnected', {});
      }
    }
  });
}

const definition = (text: string) => ({
  start: 'a',
  nodes: [
    { id: 'a', type: 'text', text, next: 'b' },
    { id: 'b', type: 'end' },
  ],
});

export function randomFlowHistory(seed: number, events: number): RecordedEvent[] {
  const random = randomOf(seed + 1);
  const orgs = Array.from({ length: 3 }, () => ({
    id: random.uuid(),
    channels: [random.uuid(), random.uuid()],
    flows: Array.from({ length: 8 }, () => ({ id: random.uuid(), version: 0 })),
    chatbots: Array.from({ length: 5 }, () => random.uuid()),
  }));
  const hours = (r: Random, flowId: string) => ({
    timezone: 'America/Sao_Paulo',
    weekly: [{ day: r.pick(['mon', 'tue', 'sat']), from: '09:00', to: '18:00' }],
    ...(r.chance(0.5) ? { closedFlowId: flowId } : {}),
  });
  return generate(seed, events, (r, history) => {
    const org = r.pick(orgs);
    const flow = r.pick(org.flows);
    const kind = r.next();
    if (kind < 0.4) {
      flow.version += 1;
      history.emit(org.id, `flow-${flow.id}`, 'FlowDraftSaved', {
        flowId: flow.id,
        version: flow.version,
        name: `Fluxo ${r.int(100)}`,
        definition: definition(`v${flow.version}`),
      });
    } else if (kind < 0.6) {
      // Any saved version, or one not saved yet (a flow that has no row).
      history.emit(org.id, `flow-${flow.id}`, 'FlowPublished', {
        flowId: flow.id,
        version: 1 + r.int(flow.version + 1),
      });
    } else {
      const chatbotId = r.pick(org.chatbots);
      if (r.chance(0.3)) {
        history.emit(org.id, `chatbot-${chatbotId}`, 'ChatbotCreated', {
          chatbotId,
          name: `Bot ${r.int(100)}`,
          channelId: r.pick(org.channels),
          flowId: flow.id,
          triggers: [{ type: 'keyword', value: 'oi', match: 'exact' }, { type: 'default' }],
          businessHours: r.chance(0.5) ? hours(r, flow.id) : null,
          enabled: r.chance(0.5),
        });
      } else {
        history.emit(
          org.id,
          `chatbot-${chatbotId}`,
          'ChatbotUpdated',
          someOf(r, {
            name: () => `Bot ${r.int(100)}`,
            flowId: () => flow.id,
            triggers: () => [{ type: 'default' }],
            businessHours: () => (r.chance(0.5) ? hours(r, flow.id) : null),
            enabled: () => r.chance(0.5),
          }),
        );
      }
    }
  });
}

export function randomFlowSecretHistory(seed: number, events: number): RecordedEvent[] {
  const random = randomOf(seed + 1);
  const orgs = [random.uuid(), random.uuid(), random.uuid(), random.uuid()];
  // Names differ by case only: two secrets.
  const names = ['API_KEY', 'api_key', 'crm_token', 'Crm_Token', 'x'];
  return generate(seed, events, (r, history) => {
    const org = r.pick(orgs);
    const name = r.pick(names);
    if (r.chance(0.7))
      history.emit(org, `flowsecrets-${org}`, 'FlowSecretSet', { name, sealed: `sealed:${r.uuid()}` });
    else history.emit(org, `flowsecrets-${org}`, 'FlowSecretRemoved', { name });
  });
}
