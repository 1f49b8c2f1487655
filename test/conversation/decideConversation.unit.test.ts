import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { ConversationCommand, Visibility } from '../../src/conversation/conversationCommands.ts';
import {
  type ConversationEvent,
  type ConversationEventType,
  conversationEventTypes,
} from '../../src/conversation/conversationEvents.ts';
import {
  customerServiceWindowMs,
  evolveConversation,
  initialConversationState,
} from '../../src/conversation/conversationState.ts';
import {
  type ConversationDraft,
  decideConversation,
  maxHeldStatuses,
} from '../../src/conversation/decideConversation.ts';
import type { MetaError, OutboundContent } from '../../src/conversation/messageContent.ts';
import { AppError, type ErrorCode } from '../../src/errors/catalogue.ts';
import { deterministicId } from '../../src/eventsourcing/deterministicId.ts';
import { SchemaRegistry } from '../../src/schemas/schemaRegistry.ts';
import type { InboundMessage, InboundStatus } from '../../src/whatsapp/normaliseMessage.ts';

// ---------------------------------------------------------------------------------------------------
// Given / when / then
// ---------------------------------------------------------------------------------------------------

const org = deterministicId('test/organization/acme');
const otherOrg = deterministicId('test/organization/globex');
const channelId = deterministicId('test/channel/main');
const conversationId = deterministicId('test/conversation/ana');
const otherConversationId = deterministicId('test/conversation/bruno');
const customer = '15551234567';

/** Every draft decide produced in this file, checked against its event schema at the end. */
const produced: ConversationDraft[] = [];

type Then = {
  /** decide's drafts as they are, ids included. */
  readonly drafts: ConversationDraft[];
  /** Compares type and data only (ids are checked where determinism matters). */
  thenEvents(expected: ConversationEvent[]): void;
  thenThrows(code: ErrorCode): void;
};

function given(events: ConversationEvent[], organizationId: string = org) {
  const state = events.reduce(
    (current, event) => evolveConversation(current, event, organizationId),
    initialConversationState(),
  );
  const decide = (command: ConversationCommand, asOrganization: string): ConversationDraft[] => {
    const before = structuredClone(state);
    try {
      const drafts = decideConversation(command, state, asOrganization);
      produced.push(...drafts);
      return drafts;
    } finally {
      assert.deepEqual(state, before, 'decide must not change the state it is given');
    }
  };
  return {
    state,
    when(command: ConversationCommand, asOrganization: string = org): Then {
      return {
        get drafts() {
          return decide(command, asOrganization);
        },
        thenEvents(expected) {
          assert.deepEqual(decide(command, asOrganization).map(withoutId), expected);
        },
        thenThrows(code) {
          assert.throws(
            () => decide(command, asOrganization),
            (error: unknown) => {
              assert.ok(error instanceof AppError, `expected an AppError, got ${String(error)}`);
              assert.equal(error.code, code);
              return true;
            },
          );
        },
      };
    },
  };
}

const withoutId = ({ type, data }: ConversationDraft): ConversationEvent =>
  ({ type, data }) as ConversationEvent;

/** The events a run of commands leaves, each decided on the state the previous ones made. */
function history(commands: ConversationCommand[], start: ConversationEvent[] = []): ConversationEvent[] {
  const events = [...start];
  for (const command of commands) events.push(...given(events).when(command).drafts);
  return events;
}

// ---------------------------------------------------------------------------------------------------
// Builders
// ---------------------------------------------------------------------------------------------------

const t0 = '2025-06-09T10:00:00.000Z';
const at = (offsetMs: number): string => new Date(Date.parse(t0) + offsetMs).toISOString();
const minute = 60_000;

const wamid = (n: number): string => `wamid.IN${String(n).padStart(4, '0')}`;
const outWamid = (n: number): string => `wamid.OUT${String(n).padStart(4, '0')}`;
const messageId = (n: number): string => deterministicId(`test/outbound/${n}`);

const inboundText = (n: number, sentAt: string, text = `message ${n}`): InboundMessage => ({
  waMessageId: wamid(n),
  from: customer,
  sentAt,
  content: { type: 'text', text },
});

const status = (
  waMessageId: string,
  value: InboundStatus['status'],
  when: string,
  extra: { errors?: MetaError[]; callbackData?: string } = {},
): InboundStatus => ({
  waMessageId,
  recipientWaId: customer,
  status: value,
  at: when,
  errors: extra.errors ?? [],
  ...(extra.callbackData === undefined ? {} : { callbackData: extra.callbackData }),
});

const webhook = (
  parts: {
    messages?: InboundMessage[];
    statuses?: InboundStatus[];
    name?: string | null;
    conversationId?: string;
  } = {},
): ConversationCommand => ({
  type: 'ReceiveWebhook',
  conversationId: parts.conversationId ?? conversationId,
  channelId,
  contact: { waId: customer, name: parts.name === undefined ? 'Ana' : parts.name },
  messages: parts.messages ?? [],
  statuses: parts.statuses ?? [],
});

const started = (name: string | null = 'Ana'): ConversationEvent => ({
  type: 'ConversationStarted',
  data: { conversationId, channelId, contact: { waId: customer, name } },
});

const received = (n: number, sentAt: string): ConversationEvent => ({
  type: 'MessageReceived',
  data: {
    messageId: deterministicId(`test/inbound/${n}`),
    waMessageId: wamid(n),
    sentAt,
    content: { type: 'text', text: `message ${n}` },
    context: null,
    referral: null,
  },
});

const agentId = deterministicId('test/user/agent');
const otherAgentId = deterministicId('test/user/other-agent');
const supervisorId = deterministicId('test/user/supervisor');
const queueA = deterministicId('test/queue/a');
const queueB = deterministicId('test/queue/b');

const everyone: Visibility = { all: true };
const agent: Visibility = { all: false, userId: agentId, queueIds: [queueA] };

const text: OutboundContent = { type: 'text', text: 'Yes, in blue and green.' };
const template: OutboundContent = {
  type: 'template',
  template: { name: 'order_update', language: 'en_US' },
};

const send = (
  n: number,
  now: string,
  extra: { content?: OutboundContent; clientMessageId?: string | null; visibility?: Visibility } = {},
): ConversationCommand => ({
  type: 'SendMessage',
  visibility: extra.visibility ?? everyone,
  messageId: messageId(n),
  clientMessageId: extra.clientMessageId === undefined ? `client-${n}` : extra.clientMessageId,
  content: extra.content ?? text,
  replyTo: null,
  author: { kind: 'agent', id: supervisorId },
  now,
});

const queued = (
  n: number,
  content: OutboundContent = text,
  clientMessageId: string | null = `client-${n}`,
): ConversationEvent => ({
  type: 'MessageQueued',
  data: {
    messageId: messageId(n),
    clientMessageId,
    channelId,
    to: customer,
    content,
    replyTo: null,
    author: { kind: 'agent', id: supervisorId },
  },
});

const attempted = (n: number, attempt: number): ConversationEvent => ({
  type: 'MessageSendAttempted',
  data: { messageId: messageId(n), attempt },
});

const sent = (n: number): ConversationEvent => ({
  type: 'MessageSent',
  data: { messageId: messageId(n), waMessageId: outWamid(n) },
});

const statusUpdated = (n: number, value: 'sent' | 'delivered' | 'read', when: string): ConversationEvent => ({
  type: 'MessageStatusUpdated',
  data: { messageId: messageId(n), waMessageId: outWamid(n), status: value, at: when },
});

const reEngagement: MetaError = {
  code: 131047,
  title: 'Re-engagement message',
  message: 'Re-engagement message',
  details:
    'Message failed to send because more than 24 hours have passed since the customer last replied to this number.',
};

const rateLimited: MetaError = { code: 130429, title: 'Rate limit hit' };

const failed = (n: number, when: string, error: MetaError = reEngagement): ConversationEvent => ({
  type: 'MessageFailed',
  data: { messageId: messageId(n), waMessageId: outWamid(n), error, at: when },
});

const deferredStatus = (
  waMessageId: string,
  value: InboundStatus['status'],
  when: string,
  errors: MetaError[] = [],
): ConversationEvent => ({
  type: 'MessageStatusDeferred',
  data: { waMessageId, status: value, at: when, errors },
});

/** A started conversation in which the customer wrote at t0: inside the window until t0 + 24h. */
const conversation = (): ConversationEvent[] => [started(), received(1, t0)];
/** …with message 1 sent and given its wamid. */
const withSentMessage = (): ConversationEvent[] => [...conversation(), queued(1), attempted(1, 1), sent(1)];

const outcome = (
  n: number,
  result: Extract<ConversationCommand, { type: 'RecordSendOutcome' }>['outcome'],
): ConversationCommand => ({ type: 'RecordSendOutcome', messageId: messageId(n), outcome: result });

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

// ---------------------------------------------------------------------------------------------------
// Inbound: webhooks
// ---------------------------------------------------------------------------------------------------

describe('decideConversation: ReceiveWebhook messages', () => {
  it('starts the conversation with the contact, then records each message oldest first', () => {
    const second = inboundText(2, at(2 * minute), 'second');
    const first = inboundText(1, at(minute), 'first');
    const drafts = given([]).when(webhook({ messages: [second, first] })).drafts;
    assert.deepEqual(drafts.map(withoutId), [
      started('Ana'),
      {
        type: 'MessageReceived',
        data: {
          messageId: drafts[1]?.type === 'MessageReceived' ? drafts[1].data.messageId : '',
          waMessageId: wamid(1),
          sentAt: at(minute),
          content: { type: 'text', text: 'first' },
          context: null,
          referral: null,
        },
      },
      {
        type: 'MessageReceived',
        data: {
          messageId: drafts[2]?.type === 'MessageReceived' ? drafts[2].data.messageId : '',
          waMessageId: wamid(2),
          sentAt: at(2 * minute),
          content: { type: 'text', text: 'second' },
          context: null,
          referral: null,
        },
      },
    ]);
    for (const draft of drafts) assert.match(draft.id ?? '', uuidPattern, `${draft.type} has an id`);
  });

  it('keeps the context and referral of a message', () => {
    const reply: InboundMessage = {
      ...inboundText(2, at(minute)),
      context: { waMessageId: outWamid(1), from: '15550783881' },
      referral: { source_type: 'ad', source_id: '120204', headline: 'Summer sale' },
    };
    const [draft] = given([started()]).when(webhook({ messages: [reply] })).drafts;
    assert.equal(draft?.type, 'MessageReceived');
    if (draft?.type !== 'MessageReceived') return;
    assert.deepEqual(draft.data.context, { waMessageId: outWamid(1), from: '15550783881' });
    assert.deepEqual(draft.data.referral, {
      source_type: 'ad',
      source_id: '120204',
      headline: 'Summer sale',
    });
  });

  it('starts a conversation with no name when Meta gives none', () => {
    const drafts = given([]).when(webhook({ name: null, messages: [inboundText(1, t0)] })).drafts;
    assert.deepEqual(drafts[0]?.data, started(null).data);
  });

  it('never starts a conversation from statuses alone', () => {
    given([])
      .when(webhook({ messages: [], statuses: [status('wamid.out-x', 'delivered', t0)] }))
      .thenEvents([]);
  });

  it('produces nothing for a redelivered message', () => {
    const events = history([webhook({ messages: [inboundText(1, t0)] })]);
    given(events)
      .when(webhook({ messages: [inboundText(1, t0)] }))
      .thenEvents([]);
  });

  it('records a message given twice in one body once', () => {
    const drafts = given([started()]).when(
      webhook({ messages: [inboundText(1, t0), inboundText(2, at(minute)), inboundText(1, t0)] }),
    ).drafts;
    assert.deepEqual(
      drafts.map((draft) => (draft.type === 'MessageReceived' ? draft.data.waMessageId : draft.type)),
      [wamid(1), wamid(2)],
    );
  });

  it('records only the new messages of a body that repeats some already recorded', () => {
    const events = history([webhook({ messages: [inboundText(1, t0)] })]);
    const drafts = given(events).when(
      webhook({ messages: [inboundText(1, t0), inboundText(2, at(minute))] }),
    ).drafts;
    assert.deepEqual(
      drafts.map((draft) => (draft.type === 'MessageReceived' ? draft.data.waMessageId : draft.type)),
      [wamid(2)],
    );
  });

  it('gives the same event and message ids to a redelivery, and other ids in another conversation', () => {
    const body = { messages: [inboundText(1, t0), inboundText(2, at(minute))] };
    // Two deliveries decided before either is appended (two nodes, or a retry after a lost answer).
    const first = given([]).when(webhook(body)).drafts;
    const again = given([]).when(webhook(body)).drafts;
    assert.deepEqual(first, again);
    const ids = first.map((draft) => draft.id);
    assert.equal(new Set(ids).size, ids.length, 'every event has its own id');

    const elsewhere = given([]).when(webhook({ ...body, conversationId: otherConversationId })).drafts;
    assert.equal(elsewhere.length, first.length);
    first.forEach((draft, index) => {
      const other = elsewhere[index];
      assert.equal(other?.type, draft.type);
      assert.notEqual(other?.id, draft.id, `${draft.type} ids differ across conversations`);
      if (draft.type === 'MessageReceived' && other?.type === 'MessageReceived') {
        assert.equal(other.data.waMessageId, draft.data.waMessageId);
        assert.notEqual(other.data.messageId, draft.data.messageId);
      }
    });
  });

  it('notes a new profile name, and nothing when the name is the same or absent', () => {
    given([started('Ana')])
      .when(webhook({ name: 'Ana Souza' }))
      .thenEvents([{ type: 'ContactProfileChanged', data: { name: 'Ana Souza' } }]);
    given([started('Ana'), { type: 'ContactProfileChanged', data: { name: 'Ana Souza' } }])
      .when(webhook({ name: 'Ana Souza' }))
      .thenEvents([]);
    given([started('Ana')])
      .when(webhook({ name: null }))
      .thenEvents([]);
    const drafts = given([started(null)]).when(
      webhook({ name: 'Ana', messages: [inboundText(1, t0)] }),
    ).drafts;
    assert.deepEqual(drafts.map(withoutId).slice(0, 1), [
      { type: 'ContactProfileChanged', data: { name: 'Ana' } },
    ]);
    assert.deepEqual(
      drafts.map((draft) => draft.type),
      ['ContactProfileChanged', 'MessageReceived'],
    );
  });

  for (const [state, change] of [
    ['resolved', { type: 'ConversationResolved', data: { by: supervisorId } }],
    ['snoozed', { type: 'ConversationSnoozed', data: { until: at(60 * minute), by: supervisorId } }],
  ] as const) {
    it(`reopens a ${state} conversation when the customer writes, before recording the messages`, () => {
      const drafts = given([...conversation(), change]).when(
        webhook({ messages: [inboundText(3, at(2 * minute)), inboundText(2, at(minute))] }),
      ).drafts;
      assert.deepEqual(
        drafts.map((draft) => (draft.type === 'MessageReceived' ? draft.data.waMessageId : draft.type)),
        ['ConversationReopened', wamid(2), wamid(3)],
      );
      assert.deepEqual(drafts[0]?.data, { reason: 'customer_message', by: null });
    });

    it(`does not reopen a ${state} conversation for a redelivered message or a status`, () => {
      given([...conversation(), change])
        .when(webhook({ messages: [inboundText(1, t0)] }))
        .thenEvents([]);
      given([...withSentMessage(), change])
        .when(webhook({ statuses: [status(outWamid(1), 'delivered', at(minute))] }))
        .thenEvents([statusUpdated(1, 'delivered', at(minute))]);
    });
  }

  for (const [state, events] of [
    ['open', conversation()],
    ['pending', [...conversation(), { type: 'ConversationMarkedPending', data: { by: supervisorId } }]],
    [
      'reopened',
      [
        ...conversation(),
        { type: 'ConversationResolved', data: { by: supervisorId } },
        { type: 'ConversationReopened', data: { reason: 'agent', by: supervisorId } },
      ],
    ],
  ] as const) {
    it(`does not reopen an ${state} conversation`, () => {
      const drafts = given([...events]).when(webhook({ messages: [inboundText(2, at(minute))] })).drafts;
      assert.deepEqual(
        drafts.map((draft) => draft.type),
        ['MessageReceived'],
      );
    });
  }

  it('records every real Meta message fixture as it was normalised', () => {
    const directory = new URL('../whatsapp/fixtures/messages/', import.meta.url);
    const messages = readdirSync(directory)
      .filter((file) => file.endsWith('.json'))
      .map(
        (file) =>
          (JSON.parse(readFileSync(new URL(file, directory), 'utf8')) as { expected: InboundMessage })
            .expected,
      );
    const drafts = given([started()]).when(webhook({ messages })).drafts;
    const recorded = drafts.flatMap((draft) => (draft.type === 'MessageReceived' ? [draft.data] : []));
    assert.equal(recorded.length, messages.length);
    const sorted = [...messages].sort((a, b) => Date.parse(a.sentAt) - Date.parse(b.sentAt));
    recorded.forEach((data, index) => {
      const message = sorted[index];
      assert.ok(message);
      assert.equal(data.waMessageId, message.waMessageId);
      assert.equal(data.sentAt, message.sentAt);
      assert.deepEqual(data.content, message.content);
      assert.deepEqual(data.context, message.context ?? null);
      assert.deepEqual(data.referral, message.referral ?? null);
    });
  });
});

describe('decideConversation: ReceiveWebhook statuses', () => {
  it('holds statuses for at most maxHeldStatuses unknown messages', () => {
    const many = Array.from({ length: maxHeldStatuses + 5 }, (_, n) =>
      status(outWamid(500 + n), 'delivered', t0),
    );
    const drafts = given(conversation()).when(webhook({ statuses: many })).drafts;
    assert.equal(drafts.filter((d) => d.type === 'MessageStatusDeferred').length, maxHeldStatuses);
  });

  it('passes over an event type newer than this code', () => {
    const state = evolveConversation(
      initialConversationState(),
      { type: 'SomethingFromTheFuture', data: {} } as unknown as ConversationEvent,
      'org',
    );
    assert.deepEqual(state, initialConversationState());
  });

  it('moves a message forward: sent, delivered, read', () => {
    const events = withSentMessage();
    given(events)
      .when(webhook({ statuses: [status(outWamid(1), 'delivered', at(minute))] }))
      .thenEvents([statusUpdated(1, 'delivered', at(minute))]);
    events.push(statusUpdated(1, 'delivered', at(minute)));
    given(events)
      .when(webhook({ statuses: [status(outWamid(1), 'read', at(2 * minute))] }))
      .thenEvents([statusUpdated(1, 'read', at(2 * minute))]);
  });

  it("changes nothing for Meta's `sent` once the Graph API answer is recorded", () => {
    // MessageSent already makes the message `sent`: Meta's own `sent` adds nothing.
    given(withSentMessage())
      .when(webhook({ statuses: [status(outWamid(1), 'sent', at(minute))] }))
      .thenEvents([]);
  });

  it('never moves a message back: delivered after read, and a duplicate, change nothing', () => {
    const read = [...withSentMessage(), statusUpdated(1, 'read', at(2 * minute))];
    given(read)
      .when(webhook({ statuses: [status(outWamid(1), 'delivered', at(minute))] }))
      .thenEvents([]);
    given(read)
      .when(webhook({ statuses: [status(outWamid(1), 'sent', at(minute))] }))
      .thenEvents([]);
    const delivered = [...withSentMessage(), statusUpdated(1, 'delivered', at(minute))];
    given(delivered)
      .when(webhook({ statuses: [status(outWamid(1), 'delivered', at(minute))] }))
      .thenEvents([]);
  });

  it('applies delivered and read given in reverse order in one body by rank', () => {
    given(withSentMessage())
      .when(
        webhook({
          statuses: [
            status(outWamid(1), 'read', at(2 * minute)),
            status(outWamid(1), 'delivered', at(minute)),
            status(outWamid(1), 'read', at(2 * minute)),
          ],
        }),
      )
      .thenEvents([statusUpdated(1, 'delivered', at(minute)), statusUpdated(1, 'read', at(2 * minute))]);
  });

  it('gives status events ids that are the same on redelivery', () => {
    const body = webhook({ statuses: [status(outWamid(1), 'delivered', at(minute))] });
    const [first] = given(withSentMessage()).when(body).drafts;
    const [again] = given(withSentMessage()).when(body).drafts;
    assert.match(first?.id ?? '', uuidPattern);
    assert.equal(again?.id, first?.id);
  });

  it("records a failure with Meta's code and title", () => {
    given(withSentMessage())
      .when(webhook({ statuses: [status(outWamid(1), 'failed', at(minute), { errors: [reEngagement] })] }))
      .thenEvents([failed(1, at(minute), reEngagement)]);
  });

  it('records a failure Meta gave no error for with a placeholder error', () => {
    const [draft] = given(withSentMessage()).when(
      webhook({ statuses: [status(outWamid(1), 'failed', at(minute))] }),
    ).drafts;
    assert.equal(draft?.type, 'MessageFailed');
    if (draft?.type !== 'MessageFailed') return;
    assert.equal(draft.data.error.code, 0);
    assert.ok(draft.data.error.title.length > 0);
  });

  it('refuses a failure after delivered or read', () => {
    for (const value of ['delivered', 'read'] as const) {
      given([...withSentMessage(), statusUpdated(1, value, at(minute))])
        .when(
          webhook({ statuses: [status(outWamid(1), 'failed', at(2 * minute), { errors: [reEngagement] })] }),
        )
        .thenEvents([]);
    }
    // Within one body too: delivered ranks before failed.
    given(withSentMessage())
      .when(
        webhook({
          statuses: [
            status(outWamid(1), 'failed', at(2 * minute), { errors: [reEngagement] }),
            status(outWamid(1), 'delivered', at(minute)),
          ],
        }),
      )
      .thenEvents([statusUpdated(1, 'delivered', at(minute))]);
  });

  it('moves nothing after a failure', () => {
    const events = [...withSentMessage(), failed(1, at(minute))];
    for (const value of ['sent', 'delivered', 'read', 'failed'] as const) {
      given(events)
        .when(webhook({ statuses: [status(outWamid(1), value, at(2 * minute), { errors: [reEngagement] })] }))
        .thenEvents([]);
    }
  });

  it('holds a status for a wamid not recorded yet, once', () => {
    const early = status(outWamid(2), 'delivered', at(minute));
    const drafts = given(conversation()).when(webhook({ statuses: [early, early] })).drafts;
    assert.deepEqual(drafts.map(withoutId), [deferredStatus(outWamid(2), 'delivered', at(minute))]);
    assert.match(drafts[0]?.id ?? '', uuidPattern);
    given([...conversation(), ...drafts])
      .when(webhook({ statuses: [early] }))
      .thenEvents([]);
    given([...conversation(), ...drafts])
      .when(webhook({ statuses: [status(outWamid(2), 'read', at(2 * minute))] }))
      .thenEvents([deferredStatus(outWamid(2), 'read', at(2 * minute))]);
  });

  it('applies held statuses in rank order once the Graph API answer is recorded', () => {
    const events = [
      ...conversation(),
      queued(2),
      attempted(2, 1),
      deferredStatus(outWamid(2), 'read', at(2 * minute)),
      deferredStatus(outWamid(2), 'delivered', at(minute)),
      deferredStatus(outWamid(2), 'sent', at(minute)),
    ];
    given(events)
      .when(outcome(2, { kind: 'sent', waMessageId: outWamid(2) }))
      .thenEvents([
        { type: 'MessageSent', data: { messageId: messageId(2), waMessageId: outWamid(2) } },
        statusUpdated(2, 'delivered', at(minute)),
        statusUpdated(2, 'read', at(2 * minute)),
      ]);
  });

  it('applies a held failure once the Graph API answer is recorded, with its error', () => {
    const events = [
      ...conversation(),
      queued(2),
      attempted(2, 1),
      deferredStatus(outWamid(2), 'failed', at(minute), [reEngagement]),
    ];
    given(events)
      .when(outcome(2, { kind: 'sent', waMessageId: outWamid(2) }))
      .thenEvents([
        { type: 'MessageSent', data: { messageId: messageId(2), waMessageId: outWamid(2) } },
        failed(2, at(minute), reEngagement),
      ]);
  });

  it('recovers the wamid of a message whose Graph answer was lost, from the callback data of a status', () => {
    const inDoubt = [...conversation(), queued(2), attempted(2, 1)];
    const drafts = given(inDoubt).when(
      webhook({
        statuses: [
          status(outWamid(2), 'read', at(2 * minute), { callbackData: messageId(2) }),
          status(outWamid(2), 'delivered', at(minute), { callbackData: messageId(2) }),
        ],
      }),
    ).drafts;
    assert.deepEqual(drafts.map(withoutId), [
      { type: 'MessageSent', data: { messageId: messageId(2), waMessageId: outWamid(2) } },
      statusUpdated(2, 'delivered', at(minute)),
      statusUpdated(2, 'read', at(2 * minute)),
    ]);
    // The sender's late answer for the same message then changes nothing.
    given([...inDoubt, ...drafts])
      .when(outcome(2, { kind: 'sent', waMessageId: outWamid(2) }))
      .thenEvents([]);
  });

  it('takes a recovered message as sent, so a `sent` status naming it adds nothing more', () => {
    const inDoubt = [...conversation(), queued(3), attempted(3, 1)];
    given(inDoubt)
      .when(webhook({ statuses: [status(outWamid(3), 'sent', at(minute), { callbackData: messageId(3) })] }))
      .thenEvents([{ type: 'MessageSent', data: { messageId: messageId(3), waMessageId: outWamid(3) } }]);
  });

  it('holds a status whose callback data names no queued message', () => {
    given(withSentMessage())
      .when(
        webhook({
          statuses: [
            status(outWamid(7), 'delivered', at(minute), { callbackData: messageId(7) }),
            // Message 1 already has its wamid: a status under another wamid does not rename it.
            status(outWamid(8), 'delivered', at(minute), { callbackData: messageId(1) }),
          ],
        }),
      )
      .thenEvents([
        deferredStatus(outWamid(7), 'delivered', at(minute)),
        deferredStatus(outWamid(8), 'delivered', at(minute)),
      ]);
  });
});

// ---------------------------------------------------------------------------------------------------
// Outbound: sending
// ---------------------------------------------------------------------------------------------------

describe('decideConversation: SendMessage', () => {
  it('queues a message to the contact on the channel inside the 24-hour window', () => {
    const drafts = given(conversation()).when(send(1, at(23 * 60 * minute))).drafts;
    assert.deepEqual(drafts.map(withoutId), [queued(1)]);
    assert.match(drafts[0]?.id ?? '', uuidPattern);
    assert.equal(given(conversation()).when(send(1, at(minute))).drafts[0]?.id, drafts[0]?.id);
    assert.notEqual(given(conversation()).when(send(2, at(minute))).drafts[0]?.id, drafts[0]?.id);
  });

  it('counts the window from the latest message the customer sent', () => {
    const events = [...conversation(), received(2, at(30 * 60 * minute)), received(3, at(10 * minute))];
    given(events)
      .when(send(1, at(30 * 60 * minute + customerServiceWindowMs)))
      .thenEvents([queued(1)]);
  });

  it('keeps the window open up to exactly 24 hours', () => {
    given(conversation())
      .when(send(1, at(customerServiceWindowMs)))
      .thenEvents([queued(1)]);
    given(conversation())
      .when(send(1, at(customerServiceWindowMs + 1)))
      .thenThrows('outside_customer_service_window');
  });

  it('refuses free-form content outside the window, and before the customer ever wrote', () => {
    for (const content of [text, { type: 'image', media: { url: 'https://example.com/a.png' } }] as const) {
      given(conversation())
        .when(send(1, at(25 * 60 * minute), { content }))
        .thenThrows('outside_customer_service_window');
      given([started()])
        .when(send(1, t0, { content }))
        .thenThrows('outside_customer_service_window');
    }
  });

  it('allows a template outside the window and before the customer ever wrote', () => {
    given(conversation())
      .when(send(1, at(25 * 60 * minute), { content: template }))
      .thenEvents([queued(1, template)]);
    given([started()])
      .when(send(1, t0, { content: template }))
      .thenEvents([queued(1, template)]);
  });

  it('queues nothing for a repeated client message id or message id', () => {
    const events = [...conversation(), queued(1)];
    given(events)
      .when(send(2, at(minute), { clientMessageId: 'client-1' }))
      .thenEvents([]);
    given(events)
      .when(send(1, at(minute), { clientMessageId: 'another-key' }))
      .thenEvents([]);
    given(events)
      .when(send(1, at(minute), { clientMessageId: null }))
      .thenEvents([]);
    // A repeat is recognised even once the window has closed.
    given(events)
      .when(send(1, at(25 * 60 * minute)))
      .thenEvents([]);
  });

  it('queues messages without a client message id each time', () => {
    const events = history([send(1, at(minute), { clientMessageId: null })], conversation());
    assert.equal(events.length, conversation().length + 1);
    given(events)
      .when(send(2, at(minute), { clientMessageId: null }))
      .thenEvents([queued(2, text, null)]);
  });
});

describe('decideConversation: RecordSendAttempt', () => {
  it('records only the next attempt of a message not sent yet', () => {
    const events = [...conversation(), queued(1)];
    given(events)
      .when({ type: 'RecordSendAttempt', messageId: messageId(1), attempt: 1 })
      .thenEvents([attempted(1, 1)]);
    given(events)
      .when({ type: 'RecordSendAttempt', messageId: messageId(1), attempt: 2 })
      .thenEvents([]);
    given([...events, attempted(1, 1)])
      .when({ type: 'RecordSendAttempt', messageId: messageId(1), attempt: 1 })
      .thenEvents([]);
    given([...events, attempted(1, 1)])
      .when({ type: 'RecordSendAttempt', messageId: messageId(1), attempt: 2 })
      .thenEvents([attempted(1, 2)]);
  });

  it('records no attempt for an unknown, sent or failed message', () => {
    given(conversation())
      .when({ type: 'RecordSendAttempt', messageId: messageId(9), attempt: 1 })
      .thenEvents([]);
    given(withSentMessage())
      .when({ type: 'RecordSendAttempt', messageId: messageId(1), attempt: 2 })
      .thenEvents([]);
    given([...conversation(), queued(1), attempted(1, 1), failed(1, at(minute))])
      .when({ type: 'RecordSendAttempt', messageId: messageId(1), attempt: 2 })
      .thenEvents([]);
  });
});

describe('decideConversation: RecordSendOutcome', () => {
  const inFlight = () => [...conversation(), queued(1), attempted(1, 1)];

  it('records the wamid the Graph API gave', () => {
    given(inFlight())
      .when(outcome(1, { kind: 'sent', waMessageId: outWamid(1) }))
      .thenEvents([sent(1)]);
  });

  it('records a failure with no wamid', () => {
    given(inFlight())
      .when(outcome(1, { kind: 'failed', error: reEngagement, at: at(minute) }))
      .thenEvents([
        {
          type: 'MessageFailed',
          data: { messageId: messageId(1), waMessageId: null, error: reEngagement, at: at(minute) },
        },
      ]);
  });

  it('records a deferral, after which the next attempt may be recorded', () => {
    const deferral: ConversationEvent = {
      type: 'MessageSendDeferred',
      data: { messageId: messageId(1), attempt: 1, error: rateLimited, retryAt: at(minute) },
    };
    given(inFlight())
      .when(outcome(1, { kind: 'deferred', attempt: 1, error: rateLimited, retryAt: at(minute) }))
      .thenEvents([deferral]);
    given([...inFlight(), deferral])
      .when({ type: 'RecordSendAttempt', messageId: messageId(1), attempt: 2 })
      .thenEvents([attempted(1, 2)]);
  });

  it('changes nothing for a message already settled or unknown', () => {
    const outcomes = [
      { kind: 'sent', waMessageId: outWamid(5) },
      { kind: 'failed', error: reEngagement, at: at(minute) },
      { kind: 'deferred', attempt: 2, error: rateLimited, retryAt: at(minute) },
    ] as const;
    for (const result of outcomes) {
      given(withSentMessage()).when(outcome(1, result)).thenEvents([]);
      given([...inFlight(), failed(1, at(minute))])
        .when(outcome(1, result))
        .thenEvents([]);
      given(conversation()).when(outcome(9, result)).thenEvents([]);
    }
  });
});

// ---------------------------------------------------------------------------------------------------
// Agents: assignment, status, notes, labels, visibility
// ---------------------------------------------------------------------------------------------------

describe('decideConversation: who may act', () => {
  const agentCommands: ConversationCommand[] = [
    send(1, at(minute), { visibility: agent }),
    { type: 'Assign', visibility: agent, assigneeId: agentId, by: agentId },
    { type: 'Resolve', visibility: agent, by: agentId },
    { type: 'Reopen', visibility: agent, by: agentId },
    { type: 'Snooze', visibility: agent, until: at(60 * minute), now: at(minute), by: agentId },
    { type: 'MarkPending', visibility: agent, by: agentId },
    {
      type: 'AddNote',
      visibility: agent,
      noteId: deterministicId('test/note/1'),
      text: 'VIP',
      authorId: agentId,
    },
    { type: 'AddLabel', visibility: agent, label: 'vip', by: agentId },
    { type: 'RemoveLabel', visibility: agent, label: 'vip', by: agentId },
  ];
  const everyCommand: ConversationCommand[] = [
    ...agentCommands,
    { type: 'RecordSendAttempt', messageId: messageId(1), attempt: 1 },
    outcome(1, { kind: 'sent', waMessageId: outWamid(1) }),
  ];

  it('answers not found for any command on a conversation that has not started', () => {
    for (const command of everyCommand) given([]).when(command).thenThrows('http.not_found');
  });

  it("answers not found for any command on another organization's conversation", () => {
    const events = [...conversation(), queued(1), attempted(1, 1)];
    for (const command of everyCommand) given(events).when(command, otherOrg).thenThrows('http.not_found');
  });

  it('hides an unassigned conversation, or one in another queue, from an agent who may not see all', () => {
    const assigned = (assigneeId: string | null, queueId: string | null): ConversationEvent => ({
      type: 'ConversationAssigned',
      data: { assigneeId, queueId, by: supervisorId },
    });
    for (const events of [
      conversation(),
      [...conversation(), assigned(otherAgentId, null)],
      [...conversation(), assigned(otherAgentId, queueB)],
      [...conversation(), assigned(null, queueB)],
    ]) {
      for (const command of agentCommands) given(events).when(command).thenThrows('http.not_found');
    }
  });

  it('lets an agent act on a conversation assigned to them, or in one of their queues', () => {
    for (const data of [
      { assigneeId: agentId, queueId: null },
      { assigneeId: agentId, queueId: queueB },
      { assigneeId: null, queueId: queueA },
      { assigneeId: otherAgentId, queueId: queueA },
    ]) {
      const events: ConversationEvent[] = [
        ...conversation(),
        { type: 'ConversationAssigned', data: { ...data, by: supervisorId } },
      ];
      given(events)
        .when({ type: 'Resolve', visibility: agent, by: agentId })
        .thenEvents([{ type: 'ConversationResolved', data: { by: agentId } }]);
      given(events)
        .when(send(1, at(minute), { visibility: agent }))
        .thenEvents([queued(1)]);
    }
  });
});

describe('decideConversation: Assign', () => {
  const assign = (fields: { assigneeId?: string | null; queueId?: string | null }): ConversationCommand => ({
    type: 'Assign',
    visibility: everyone,
    ...fields,
    by: supervisorId,
  });
  const assigned = (assigneeId: string | null, queueId: string | null): ConversationEvent => ({
    type: 'ConversationAssigned',
    data: { assigneeId, queueId, by: supervisorId },
  });

  it('keeps an absent field, clears a null one, and changes nothing for the same values', () => {
    given(conversation())
      .when(assign({ assigneeId: agentId }))
      .thenEvents([assigned(agentId, null)]);
    const withAgent = [...conversation(), assigned(agentId, null)];
    given(withAgent)
      .when(assign({ queueId: queueA }))
      .thenEvents([assigned(agentId, queueA)]);
    const withBoth = [...withAgent, assigned(agentId, queueA)];
    given(withBoth)
      .when(assign({ assigneeId: null }))
      .thenEvents([assigned(null, queueA)]);
    given(withBoth)
      .when(assign({ queueId: null }))
      .thenEvents([assigned(agentId, null)]);
    given(withBoth)
      .when(assign({ assigneeId: otherAgentId, queueId: queueB }))
      .thenEvents([assigned(otherAgentId, queueB)]);
    given(withBoth)
      .when(assign({ assigneeId: agentId, queueId: queueA }))
      .thenEvents([]);
    given(withBoth).when(assign({})).thenEvents([]);
    given(conversation())
      .when(assign({ assigneeId: null, queueId: null }))
      .thenEvents([]);
  });
});

describe('decideConversation: Resolve, Reopen, Snooze, MarkPending', () => {
  const resolved: ConversationEvent = { type: 'ConversationResolved', data: { by: supervisorId } };
  const pending: ConversationEvent = { type: 'ConversationMarkedPending', data: { by: supervisorId } };
  const snoozed: ConversationEvent = {
    type: 'ConversationSnoozed',
    data: { until: at(60 * minute), by: supervisorId },
  };
  const resolve: ConversationCommand = { type: 'Resolve', visibility: everyone, by: supervisorId };
  const reopen: ConversationCommand = { type: 'Reopen', visibility: everyone, by: supervisorId };
  const markPending: ConversationCommand = { type: 'MarkPending', visibility: everyone, by: supervisorId };
  const snooze = (until: string, now: string): ConversationCommand => ({
    type: 'Snooze',
    visibility: everyone,
    until,
    now,
    by: supervisorId,
  });

  it('resolves once', () => {
    for (const events of [conversation(), [...conversation(), pending], [...conversation(), snoozed]]) {
      given(events).when(resolve).thenEvents([resolved]);
    }
    given([...conversation(), resolved])
      .when(resolve)
      .thenEvents([]);
  });

  it('reopens a resolved, pending or snoozed conversation, and leaves an open one alone', () => {
    const reopened: ConversationEvent = {
      type: 'ConversationReopened',
      data: { reason: 'agent', by: supervisorId },
    };
    for (const change of [resolved, pending, snoozed]) {
      given([...conversation(), change])
        .when(reopen)
        .thenEvents([reopened]);
    }
    given(conversation()).when(reopen).thenEvents([]);
    given([...conversation(), resolved, reopened])
      .when(reopen)
      .thenEvents([]);
  });

  it('marks pending once', () => {
    for (const events of [conversation(), [...conversation(), resolved], [...conversation(), snoozed]]) {
      given(events).when(markPending).thenEvents([pending]);
    }
    given([...conversation(), pending])
      .when(markPending)
      .thenEvents([]);
  });

  it('snoozes until a future time, once per time', () => {
    given(conversation())
      .when(snooze(at(60 * minute), at(minute)))
      .thenEvents([snoozed]);
    given([...conversation(), snoozed])
      .when(snooze(at(60 * minute), at(2 * minute)))
      .thenEvents([]);
    given([...conversation(), snoozed])
      .when(snooze(at(120 * minute), at(2 * minute)))
      .thenEvents([{ type: 'ConversationSnoozed', data: { until: at(120 * minute), by: supervisorId } }]);
    // Snoozed again until the same time after being reopened: a new snooze.
    given([...conversation(), snoozed, { type: 'ConversationReopened', data: { reason: 'agent', by: null } }])
      .when(snooze(at(60 * minute), at(2 * minute)))
      .thenEvents([snoozed]);
  });

  it('ends a snooze when its time comes, unless it was changed or ended before', () => {
    const endSnooze = (until: string, now: string): ConversationCommand => ({
      type: 'EndSnooze',
      until,
      now,
    });
    const woken: ConversationEvent = {
      type: 'ConversationReopened',
      data: { reason: 'snooze_ended', by: null },
    };
    given([...conversation(), snoozed])
      .when(endSnooze(at(60 * minute), at(60 * minute)))
      .thenEvents([woken]);
    given([...conversation(), snoozed])
      .when(endSnooze(at(60 * minute), at(59 * minute)))
      .thenEvents([]);
    given([
      ...conversation(),
      snoozed,
      { type: 'ConversationSnoozed', data: { until: at(90 * minute), by: supervisorId } },
    ])
      .when(endSnooze(at(60 * minute), at(61 * minute)))
      .thenEvents([]);
    given([...conversation(), snoozed, resolved])
      .when(endSnooze(at(60 * minute), at(61 * minute)))
      .thenEvents([]);
  });

  it('refuses a snooze until now or a past time', () => {
    given(conversation())
      .when(snooze(at(minute), at(minute)))
      .thenThrows('http.validation_failed');
    given(conversation())
      .when(snooze(at(-minute), at(minute)))
      .thenThrows('http.validation_failed');
  });
});

describe('decideConversation: notes and labels', () => {
  const noteId = deterministicId('test/note/1');
  const addNote = (id: string): ConversationCommand => ({
    type: 'AddNote',
    visibility: everyone,
    noteId: id,
    text: 'Asked for a refund on order 42',
    authorId: supervisorId,
  });
  const note: ConversationEvent = {
    type: 'NoteAdded',
    data: { noteId, text: 'Asked for a refund on order 42', authorId: supervisorId },
  };
  const label = (type: 'AddLabel' | 'RemoveLabel', name: string): ConversationCommand => ({
    type,
    visibility: everyone,
    label: name,
    by: supervisorId,
  });
  const labelAdded = (name: string): ConversationEvent => ({
    type: 'LabelAdded',
    data: { label: name, by: supervisorId },
  });
  const labelRemoved = (name: string): ConversationEvent => ({
    type: 'LabelRemoved',
    data: { label: name, by: supervisorId },
  });

  it('adds a note once per note id', () => {
    given(conversation()).when(addNote(noteId)).thenEvents([note]);
    given([...conversation(), note])
      .when(addNote(noteId))
      .thenEvents([]);
    const other = deterministicId('test/note/2');
    given([...conversation(), note])
      .when(addNote(other))
      .thenEvents([{ type: 'NoteAdded', data: { ...note.data, noteId: other } as typeof note.data }]);
  });

  it('adds and removes labels idempotently', () => {
    given(conversation())
      .when(label('AddLabel', 'vip'))
      .thenEvents([labelAdded('vip')]);
    given([...conversation(), labelAdded('vip')])
      .when(label('AddLabel', 'vip'))
      .thenEvents([]);
    given([...conversation(), labelAdded('vip')])
      .when(label('AddLabel', 'refund'))
      .thenEvents([labelAdded('refund')]);
    given(conversation()).when(label('RemoveLabel', 'vip')).thenEvents([]);
    given([...conversation(), labelAdded('vip')])
      .when(label('RemoveLabel', 'vip'))
      .thenEvents([labelRemoved('vip')]);
    given([...conversation(), labelAdded('vip'), labelRemoved('vip')])
      .when(label('RemoveLabel', 'vip'))
      .thenEvents([]);
    given([...conversation(), labelAdded('vip'), labelRemoved('vip')])
      .when(label('AddLabel', 'vip'))
      .thenEvents([labelAdded('vip')]);
  });
});

// ---------------------------------------------------------------------------------------------------
// Schemas and decider cannot drift
// ---------------------------------------------------------------------------------------------------

describe('decideConversation: event schemas', () => {
  const registry = new SchemaRegistry();

  const assertValid = (drafts: ConversationDraft[]) => {
    for (const draft of drafts) {
      assert.deepEqual(
        registry.validate(`events/${draft.type}.v1`, JSON.parse(JSON.stringify(draft.data))),
        [],
        `${draft.type}: ${JSON.stringify(draft.data)}`,
      );
    }
  };

  it('has a schema for every conversation event type', () => {
    for (const type of conversationEventTypes) assert.ok(registry.has(`events/${type}.v1`), type);
  });

  it('validates an example of every event type that decide produces', () => {
    const commands: ConversationCommand[] = [
      webhook({ name: null, messages: [inboundText(1, t0)] }),
      webhook({ name: 'Ana', statuses: [status(outWamid(2), 'delivered', at(minute))] }),
      send(1, at(minute)),
      send(2, at(minute), { content: template }),
      { type: 'RecordSendAttempt', messageId: messageId(1), attempt: 1 },
      outcome(1, { kind: 'deferred', attempt: 1, error: rateLimited, retryAt: at(2 * minute) }),
      { type: 'RecordSendAttempt', messageId: messageId(1), attempt: 2 },
      outcome(1, { kind: 'sent', waMessageId: outWamid(1) }),
      webhook({ statuses: [status(outWamid(1), 'read', at(3 * minute))] }),
      { type: 'RecordSendAttempt', messageId: messageId(2), attempt: 1 },
      outcome(2, { kind: 'sent', waMessageId: outWamid(2) }),
      send(3, at(minute)),
      outcome(3, { kind: 'failed', error: reEngagement, at: at(minute) }),
      send(4, at(minute)),
      webhook({ statuses: [status(outWamid(4), 'failed', at(2 * minute), { errors: [reEngagement] })] }),
      { type: 'RecordSendAttempt', messageId: messageId(4), attempt: 1 },
      outcome(4, { kind: 'sent', waMessageId: outWamid(4) }),
      { type: 'Assign', visibility: everyone, assigneeId: agentId, queueId: queueA, by: supervisorId },
      { type: 'MarkPending', visibility: everyone, by: supervisorId },
      { type: 'Snooze', visibility: everyone, until: at(60 * minute), now: at(minute), by: supervisorId },
      { type: 'Reopen', visibility: everyone, by: supervisorId },
      { type: 'Resolve', visibility: everyone, by: supervisorId },
      webhook({ messages: [inboundText(2, at(5 * minute))] }),
      {
        type: 'AddNote',
        visibility: everyone,
        noteId: deterministicId('test/note/1'),
        text: 'Note',
        authorId: supervisorId,
      },
      { type: 'AddLabel', visibility: everyone, label: 'vip', by: supervisorId },
      { type: 'RemoveLabel', visibility: everyone, label: 'vip', by: supervisorId },
    ];
    const events = history(commands);
    const drafts = events as ConversationDraft[];
    assertValid(drafts);
    // The bot's events have their examples in decideBot.unit.test.ts.
    const seen = new Set<ConversationEventType>([
      ...drafts.map((draft) => draft.type),
      'FlowRunStarted',
      'FlowAdvanced',
      'FlowEnded',
      'BotResumed',
    ]);
    assert.deepEqual(
      conversationEventTypes.filter((type) => !seen.has(type)),
      [],
      'every event type has an example',
    );
  });

  it('validates every draft decide produced in this file', () => {
    assert.ok(produced.length > 0);
    assertValid(produced);
  });
});
