import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ConversationCommand, Visibility } from '../../src/conversation/conversationCommands.ts';
import type { ConversationEvent, ConversationEventType } from '../../src/conversation/conversationEvents.ts';
import {
  type ConversationState,
  evolveConversation,
  initialConversationState,
} from '../../src/conversation/conversationState.ts';
import { type ConversationDraft, decideConversation } from '../../src/conversation/decideConversation.ts';
import type { InboundContent, OutboundContent } from '../../src/conversation/messageContent.ts';
import { AppError } from '../../src/errors/catalogue.ts';
import { deterministicId } from '../../src/eventsourcing/deterministicId.ts';
import type { ApiOutcome } from '../../src/flow/apiCall.ts';
import type { BotPrepared } from '../../src/flow/botPreparation.ts';
import type { Chatbot } from '../../src/flow/chatbot.ts';
import type { FlowDefinition } from '../../src/flow/flowDefinition.ts';
import type { Waiting } from '../../src/flow/flowRun.ts';
import { SchemaRegistry } from '../../src/schemas/schemaRegistry.ts';
import type { InboundMessage } from '../../src/whatsapp/normaliseMessage.ts';

// ---------------------------------------------------------------------------------------------------
// Flows and chatbots
// ---------------------------------------------------------------------------------------------------

const org = deterministicId('test/organization/acme');
const channelId = deterministicId('test/channel/main');
const conversationId = deterministicId('test/conversation/ana');
const customer = '15551234567';
const queueA = deterministicId('test/queue/a');
const agentId = deterministicId('test/user/agent');
const supervisorId = deterministicId('test/user/supervisor');
const everyone: Visibility = { all: true };

const welcomeFlow = deterministicId('test/flow/welcome');
const ordersFlow = deterministicId('test/flow/orders');
const quizFlow = deterministicId('test/flow/quiz');
const closedFlow = deterministicId('test/flow/closed');
const draftFlow = deterministicId('test/flow/draft');

/** Asks sales or support: sales says goodbye, support hands off to queue A. */
const welcomeV1: FlowDefinition = {
  start: 'ask',
  nodes: [
    {
      id: 'ask',
      type: 'question',
      text: 'Hi {{contact.name}}! Sales or support?',
      variable: 'topic',
      input: {
        kind: 'choice',
        options: [
          { id: 'sales', title: 'Sales', next: 'bye' },
          { id: 'support', title: 'Support', next: 'human' },
        ],
      },
    },
    { id: 'bye', type: 'text', text: 'Bye {{contact.name}}, you said {{message.text}}' },
    { id: 'human', type: 'handoff', text: 'Passing you to a human', queueId: queueA },
  ],
};
const welcomeV2: FlowDefinition = { start: 'v2', nodes: [{ id: 'v2', type: 'text', text: 'Version 2' }] };

/** Looks the order up, then says its status (or hands off when the lookup fails). */
const ordersV1: FlowDefinition = {
  start: 'intro',
  nodes: [
    { id: 'intro', type: 'text', text: 'Checking: {{message.text}}', next: 'call' },
    {
      id: 'call',
      type: 'api_call',
      request: { method: 'GET', url: 'https://shop.example.com/orders?q={{message.text}}' },
      map: { status: '/status' },
      next: 'done',
      onError: 'failed',
    },
    { id: 'done', type: 'text', text: 'Your order is {{status}}' },
    { id: 'failed', type: 'handoff', text: 'Sorry, let me get a human' },
  ],
};

/** A question that gives up after ten minutes. */
const quizV1: FlowDefinition = {
  start: 'ask',
  nodes: [
    {
      id: 'ask',
      type: 'question',
      text: 'Still there?',
      variable: 'answer',
      input: { kind: 'text' },
      timeout: { seconds: 600, next: 'late' },
      next: 'late',
    },
    { id: 'late', type: 'text', text: 'Bye for now' },
  ],
};

const closedV1: FlowDefinition = {
  start: 'closed',
  nodes: [{ id: 'closed', type: 'text', text: 'We are closed, {{contact.name}}' }],
};

const chatbot = (name: string, flowId: string, triggers: Chatbot['triggers']): Chatbot => ({
  id: deterministicId(`test/chatbot/${name}`),
  name,
  channelId,
  flowId,
  triggers,
  businessHours: null,
  enabled: true,
});
const welcomeBot = chatbot('welcome', welcomeFlow, [{ type: 'default' }]);
const ordersBot = chatbot('orders', ordersFlow, [{ type: 'keyword', value: 'order', match: 'contains' }]);
const quizBot = chatbot('quiz', quizFlow, [{ type: 'keyword', value: 'quiz' }]);

// 2026-11-23 is a Monday.
const t0 = '2026-11-23T08:30:00.000Z';
const at = (offsetMs: number): string => new Date(Date.parse(t0) + offsetMs).toISOString();
const minute = 60_000;

function prepared(extra: Partial<BotPrepared> = {}): BotPrepared {
  return {
    now: t0,
    maxSteps: 100,
    chatbots: [welcomeBot, ordersBot, quizBot],
    definitions: new Map([
      [`${welcomeFlow}@1`, welcomeV1],
      [`${welcomeFlow}@2`, welcomeV2],
      [`${ordersFlow}@1`, ordersV1],
      [`${quizFlow}@1`, quizV1],
      [`${closedFlow}@1`, closedV1],
    ]),
    published: new Map([
      [welcomeFlow, 1],
      [ordersFlow, 1],
      [quizFlow, 1],
      [closedFlow, 1],
    ]),
    contact: { name: 'Ana', waId: customer, attributes: {} },
    ...extra,
  };
}

// ---------------------------------------------------------------------------------------------------
// Given / when / then
// ---------------------------------------------------------------------------------------------------

/** Every draft decided in this file, checked against its event schema at the end. */
const produced: ConversationDraft[] = [];

const stateOf = (events: ConversationEvent[]): ConversationState =>
  events.reduce((state, event) => evolveConversation(state, event, org), initialConversationState());

/** decide on the state `events` leave, checking it leaves that state alone (`bot` null: nothing prepared). */
function decide(
  events: ConversationEvent[],
  command: ConversationCommand,
  bot: BotPrepared | null = prepared(),
): ConversationDraft[] {
  const state = stateOf(events);
  const before = structuredClone(state);
  const drafts = decideConversation(command, state, org, bot ?? undefined);
  assert.deepEqual(state, before, 'decide must not change the state it is given');
  produced.push(...drafts);
  return drafts;
}

/** The events a run of commands leaves, each decided on the state the previous ones made. */
function history(
  commands: ConversationCommand[],
  bot: BotPrepared = prepared(),
  start: ConversationEvent[] = [],
): ConversationEvent[] {
  const events = [...start];
  for (const command of commands) events.push(...decide(events, command, bot));
  return events;
}

const withoutId = ({ type, data }: ConversationDraft): ConversationEvent =>
  ({ type, data }) as ConversationEvent;
const types = (drafts: ConversationDraft[]): ConversationEventType[] => drafts.map((draft) => draft.type);
type DataOf<Type extends ConversationEventType> = Extract<ConversationEvent, { type: Type }>['data'];
/** The data of the one draft of `type`. */
function dataOf<Type extends ConversationEventType>(drafts: ConversationDraft[], type: Type): DataOf<Type> {
  const found = drafts.filter((draft) => draft.type === type);
  assert.equal(found.length, 1, `one ${type} in ${types(drafts).join(', ')}`);
  return found[0]?.data as DataOf<Type>;
}
const sentTexts = (drafts: ConversationDraft[]): string[] =>
  drafts.flatMap((draft) =>
    draft.type === 'MessageQueued' && draft.data.content.type === 'text' ? [draft.data.content.text] : [],
  );

const wamid = (n: number): string => `wamid.IN${String(n).padStart(4, '0')}`;
const receivedId = (n: number): string => deterministicId(`${conversationId}/received/${wamid(n)}`);
/** The run a customer message starts. */
const runOf = (n: number): string => deterministicId(`${conversationId}/run/${receivedId(n)}`);
const botMessageId = (runId: string, turn: number, i: number): string =>
  deterministicId(`${runId}/${turn}/message/${i}`);

const inbound = (n: number, content: InboundContent | string, sentAt = at(n * minute)): InboundMessage => ({
  waMessageId: wamid(n),
  from: customer,
  sentAt,
  content: typeof content === 'string' ? { type: 'text', text: content } : content,
});

const webhook = (...messages: InboundMessage[]): ConversationCommand => ({
  type: 'ReceiveWebhook',
  conversationId,
  channelId,
  contact: { waId: customer, name: 'Ana' },
  messages,
  statuses: [],
});
const says = (n: number, text: string) => webhook(inbound(n, text));

const agentSends = (n: number): ConversationCommand => ({
  type: 'SendMessage',
  visibility: everyone,
  messageId: deterministicId(`test/outbound/${n}`),
  clientMessageId: null,
  content: { type: 'text', text: 'Hi, Bruno here' },
  replyTo: null,
  author: { kind: 'agent', id: agentId },
  now: at(30 * minute),
});
const assign = (assigneeId: string | null, queueId?: string | null): ConversationCommand => ({
  type: 'Assign',
  visibility: everyone,
  assigneeId,
  ...(queueId === undefined ? {} : { queueId }),
  by: supervisorId,
});
const resolve: ConversationCommand = { type: 'Resolve', visibility: everyone, by: supervisorId };
const handBack = (flowId: string | null): ConversationCommand => ({
  type: 'HandBackToBot',
  visibility: everyone,
  by: supervisorId,
  runId: deterministicId('test/run/handback'),
  flowId,
});

/** The run in progress after `events`, and what it waits for. */
const runAfter = (events: ConversationEvent[]) => {
  const run = stateOf(events).bot.run;
  assert.ok(run, 'a run in progress');
  return run;
};
const apiWaiting = (events: ConversationEvent[]): Extract<Waiting, { kind: 'api' }> => {
  const { waiting } = runAfter(events);
  assert.equal(waiting?.kind, 'api');
  return waiting as Extract<Waiting, { kind: 'api' }>;
};
const resumeWith = (
  events: ConversationEvent[],
  input: Extract<ConversationCommand, { type: 'ResumeFlow' }>['input'],
  extra: { runId?: string; turn?: number; now?: string } = {},
): ConversationCommand => {
  const run = runAfter(events);
  return {
    type: 'ResumeFlow',
    runId: extra.runId ?? run.runId,
    turn: extra.turn ?? run.turn,
    input,
    now: extra.now ?? t0,
  };
};
const apiResult = (
  events: ConversationEvent[],
  outcome: ApiOutcome,
  requestId = apiWaiting(events).requestId,
) => ({ kind: 'api_result', requestId, outcome }) as const;

const welcomeButtons: OutboundContent = {
  type: 'interactive',
  interactive: {
    type: 'button',
    body: { text: 'Hi Ana! Sales or support?' },
    action: {
      buttons: [
        { type: 'reply', reply: { id: 'sales', title: 'Sales' } },
        { type: 'reply', reply: { id: 'support', title: 'Support' } },
      ],
    },
  },
};

/** A new conversation whose first message ("hi") started the welcome flow, waiting for the choice. */
const welcomed = (): ConversationEvent[] => history([says(1, 'hi')]);
/** An established conversation with no bot: its first message came before any chatbot. */
const quiet = (): ConversationEvent[] => history([says(1, 'hi')], prepared({ chatbots: [] }));

// ---------------------------------------------------------------------------------------------------
// Triggers
// ---------------------------------------------------------------------------------------------------

describe('decideBot: a first message starts the default chatbot', () => {
  it('starts the conversation, records the message, starts the run and asks the first question', () => {
    const drafts = decide([], says(1, 'hi'));
    const runId = runOf(1);
    assert.deepEqual(drafts.map(withoutId), [
      {
        type: 'ConversationStarted',
        data: { conversationId, channelId, contact: { waId: customer, name: 'Ana' } },
      },
      {
        type: 'MessageReceived',
        data: {
          messageId: receivedId(1),
          waMessageId: wamid(1),
          sentAt: at(minute),
          content: { type: 'text', text: 'hi' },
          context: null,
          referral: null,
        },
      },
      {
        type: 'FlowRunStarted',
        data: {
          runId,
          chatbotId: welcomeBot.id,
          flowId: welcomeFlow,
          version: 1,
          trigger: { type: 'default', value: null },
        },
      },
      {
        type: 'MessageQueued',
        data: {
          messageId: botMessageId(runId, 1, 0),
          clientMessageId: null,
          channelId,
          to: customer,
          content: welcomeButtons,
          replyTo: null,
          author: { kind: 'bot', id: welcomeBot.id },
        },
      },
      {
        type: 'FlowAdvanced',
        data: {
          runId,
          turn: 1,
          flowId: welcomeFlow,
          version: 1,
          steps: [{ flowId: welcomeFlow, version: 1, nodeId: 'ask', type: 'question' }],
          set: {},
          waiting: { kind: 'answer', nodeId: 'ask', retries: 0, timeoutAt: null },
        },
      },
    ]);
  });

  it('gives a bot message a deterministic event id, so a replayed turn queues it once', () => {
    const queued = decide([], says(1, 'hi')).find((draft) => draft.type === 'MessageQueued');
    assert.equal(queued?.id, deterministicId(`${conversationId}/queued/${botMessageId(runOf(1), 1, 0)}`));
  });

  it('records the run in the state', () => {
    const run = runAfter(welcomed());
    assert.deepEqual(
      { runId: run.runId, flow: run.flow, turn: run.turn, waiting: run.waiting },
      {
        runId: runOf(1),
        flow: { flowId: welcomeFlow, version: 1 },
        turn: 1,
        waiting: { kind: 'answer', nodeId: 'ask', retries: 0, timeoutAt: null },
      },
    );
  });

  it('starts nothing without what the bot reads', () => {
    assert.deepEqual(types(decide([], says(1, 'hi'), null)), ['ConversationStarted', 'MessageReceived']);
  });

  it('starts nothing when the chatbot’s flow has no published version', () => {
    const bot = prepared({ published: new Map([[ordersFlow, 1]]) });
    assert.deepEqual(types(decide([], says(1, 'hi'), bot)), ['ConversationStarted', 'MessageReceived']);
  });

  it('does not start the default again later in the conversation', () => {
    const events = history([says(2, 'Sales')], prepared(), welcomed());
    assert.equal(stateOf(events).bot.run, null);
    assert.deepEqual(types(decide(events, says(3, 'hello again'))), ['MessageReceived']);
  });
});

describe('decideBot: the answer', () => {
  it('feeds a choice to the run, which says goodbye and completes', () => {
    const drafts = decide(welcomed(), says(2, 'sales'));
    const runId = runOf(1);
    assert.deepEqual(types(drafts), ['MessageReceived', 'MessageQueued', 'FlowAdvanced', 'FlowEnded']);
    assert.deepEqual(sentTexts(drafts), ['Bye Ana, you said sales']);
    assert.deepEqual(dataOf(drafts, 'MessageQueued').messageId, botMessageId(runId, 2, 0));
    assert.deepEqual(dataOf(drafts, 'FlowAdvanced'), {
      runId,
      turn: 2,
      flowId: welcomeFlow,
      version: 1,
      steps: [
        { flowId: welcomeFlow, version: 1, nodeId: 'ask', type: 'question' },
        { flowId: welcomeFlow, version: 1, nodeId: 'bye', type: 'text' },
      ],
      set: { topic: 'sales' },
      waiting: null,
    });
    assert.deepEqual(dataOf(drafts, 'FlowEnded'), { runId, reason: 'completed', detail: null });
  });

  it('takes a button reply', () => {
    const reply: InboundContent = {
      type: 'interactive',
      interactive: { kind: 'button_reply', id: 'sales', title: 'Sales' },
    };
    const drafts = decide(welcomed(), webhook(inbound(2, reply)));
    assert.deepEqual(dataOf(drafts, 'FlowAdvanced').set, { topic: 'sales' });
  });

  it('ignores a reaction while waiting', () => {
    const reaction: InboundContent = {
      type: 'reaction',
      reaction: { waMessageId: 'wamid.OUT1', emoji: '👍' },
    };
    assert.deepEqual(types(decide(welcomed(), webhook(inbound(2, reaction)))), ['MessageReceived']);
  });

  it('lets a message pass while the run waits for its API call', () => {
    const events = history([says(2, 'my order 42')], prepared(), quiet());
    assert.deepEqual(types(decide(events, says(3, 'hello?'))), ['MessageReceived']);
  });

  it('keeps the version the run started with when a newer one is published', () => {
    const newer = prepared({
      published: new Map([
        [welcomeFlow, 2],
        [ordersFlow, 1],
      ]),
    });
    const drafts = decide(welcomed(), says(2, 'sales'), newer);
    assert.deepEqual(sentTexts(drafts), ['Bye Ana, you said sales']);
    assert.equal(dataOf(drafts, 'FlowAdvanced').version, 1);
  });

  it('handles two messages of one webhook in order: the first starts the run, the second answers it', () => {
    const drafts = decide([], webhook(inbound(2, 'Sales', at(2 * minute)), inbound(1, 'hi', at(minute))));
    assert.deepEqual(types(drafts), [
      'ConversationStarted',
      'MessageReceived',
      'FlowRunStarted',
      'MessageQueued',
      'FlowAdvanced',
      'MessageReceived',
      'MessageQueued',
      'FlowAdvanced',
      'FlowEnded',
    ]);
    assert.deepEqual(sentTexts(drafts), ['Bye Ana, you said Sales']);
    assert.deepEqual(
      drafts.flatMap((draft) => (draft.type === 'FlowAdvanced' ? [[draft.data.turn, draft.data.set]] : [])),
      [
        [1, {}],
        [2, { topic: 'sales' }],
      ],
    );
  });

  it('starts the default once for a new conversation, whether its messages come in one webhook or two', () => {
    const oneShot = prepared({ chatbots: [chatbot('closed', closedFlow, [{ type: 'default' }])] });
    const together = decide([], webhook(inbound(1, 'hi'), inbound(2, 'anyone?')), oneShot);
    const apart = history([says(1, 'hi'), says(2, 'anyone?')], oneShot);
    assert.deepEqual(types(together), types(apart));
    assert.equal(types(together).filter((type) => type === 'FlowRunStarted').length, 1);
  });
});

describe('decideBot: keyword triggers', () => {
  it('starts a chatbot by keyword mid-conversation', () => {
    const drafts = decide(quiet(), says(2, 'Where is my ORDER?'));
    const runId = runOf(2);
    assert.deepEqual(types(drafts), ['MessageReceived', 'FlowRunStarted', 'MessageQueued', 'FlowAdvanced']);
    assert.deepEqual(dataOf(drafts, 'FlowRunStarted'), {
      runId,
      chatbotId: ordersBot.id,
      flowId: ordersFlow,
      version: 1,
      trigger: { type: 'keyword', value: 'order' },
    });
    assert.deepEqual(sentTexts(drafts), ['Checking: Where is my ORDER?']);
    const advanced = dataOf(drafts, 'FlowAdvanced');
    assert.deepEqual(advanced.waiting, {
      kind: 'api',
      nodeId: 'call',
      requestId: advanced.waiting?.kind === 'api' ? advanced.waiting.requestId : '',
      request: {
        method: 'GET',
        url: 'https://shop.example.com/orders?q=Where is my ORDER?',
        headers: {},
        body: null,
        timeoutMs: 10_000,
      },
    });
  });

  it('prefers a keyword to the default on a new conversation', () => {
    assert.equal(dataOf(decide([], says(1, 'order 42')), 'FlowRunStarted').flowId, ordersFlow);
  });

  it('treats a keyword as an answer while a run waits for one', () => {
    const drafts = decide(welcomed(), says(2, 'order'));
    assert.deepEqual(types(drafts), ['MessageReceived', 'FlowAdvanced', 'FlowEnded']);
    assert.equal(dataOf(drafts, 'FlowEnded').reason, 'invalid_answer');
  });

  it('starts nothing when the conversation is assigned to an agent', () => {
    const events = history([assign(agentId)], prepared(), quiet());
    assert.deepEqual(types(decide(events, says(2, 'order 42'))), ['MessageReceived']);
  });

  it('starts nothing while the bot is paused', () => {
    const paused: ConversationEvent[] = [
      ...quiet(),
      {
        type: 'FlowRunStarted',
        data: {
          runId: deterministicId('test/run/old'),
          chatbotId: welcomeBot.id,
          flowId: welcomeFlow,
          version: 1,
          trigger: { type: 'default', value: null },
        },
      },
      {
        type: 'FlowEnded',
        data: { runId: deterministicId('test/run/old'), reason: 'step_limit', detail: 'loop' },
      },
    ];
    assert.equal(stateOf(paused).bot.paused, true);
    assert.deepEqual(types(decide(paused, says(2, 'order 42'))), ['MessageReceived']);
  });

  it('runs the closed flow outside business hours', () => {
    const hours = {
      ...welcomeBot,
      businessHours: {
        timezone: 'America/Sao_Paulo',
        weekly: [{ day: 'mon' as const, from: '09:00', to: '18:00' }],
        closedFlowId: closedFlow,
      },
    };
    const closed = decide(
      [],
      says(1, 'hi'),
      prepared({ chatbots: [hours], now: '2026-11-23T11:30:00.000Z' }),
    );
    assert.deepEqual(dataOf(closed, 'FlowRunStarted').flowId, closedFlow);
    assert.deepEqual(sentTexts(closed), ['We are closed, Ana']);
    const open = decide([], says(1, 'hi'), prepared({ chatbots: [hours], now: '2026-11-23T12:30:00.000Z' }));
    assert.deepEqual(dataOf(open, 'FlowRunStarted').flowId, welcomeFlow);
  });
});

// ---------------------------------------------------------------------------------------------------
// Humans take over
// ---------------------------------------------------------------------------------------------------

describe('decideBot: handoff', () => {
  it('assigns the queue by bot and ends the run with handoff', () => {
    const drafts = decide(welcomed(), says(2, 'SUPPORT'));
    assert.deepEqual(drafts.slice(1).map(withoutId), [
      {
        type: 'MessageQueued',
        data: {
          messageId: botMessageId(runOf(1), 2, 0),
          clientMessageId: null,
          channelId,
          to: customer,
          content: { type: 'text', text: 'Passing you to a human' },
          replyTo: null,
          author: { kind: 'bot', id: welcomeBot.id },
        },
      },
      {
        type: 'FlowAdvanced',
        data: {
          runId: runOf(1),
          turn: 2,
          flowId: welcomeFlow,
          version: 1,
          steps: [
            { flowId: welcomeFlow, version: 1, nodeId: 'ask', type: 'question' },
            { flowId: welcomeFlow, version: 1, nodeId: 'human', type: 'handoff' },
          ],
          set: { topic: 'support' },
          waiting: null,
        },
      },
      { type: 'ConversationAssigned', data: { assigneeId: null, queueId: queueA, by: 'bot' } },
      { type: 'FlowEnded', data: { runId: runOf(1), reason: 'handoff', detail: null } },
    ]);
  });

  it('triggers nothing on the next message', () => {
    const events = history([says(2, 'support')], prepared(), welcomed());
    assert.deepEqual(types(decide(events, says(3, 'order 42'))), ['MessageReceived']);
  });

  it('stops for a human when the API call fails, without an assignment when none is named', () => {
    const events = history([says(2, 'order 42')], prepared(), quiet());
    const drafts = decide(
      events,
      resumeWith(events, apiResult(events, { ok: false, status: 500, error: 'HTTP 500' })),
    );
    assert.deepEqual(types(drafts), ['MessageQueued', 'FlowAdvanced', 'FlowEnded']);
    assert.equal(dataOf(drafts, 'FlowEnded').reason, 'handoff');
  });
});

describe('decideBot: agents take over', () => {
  it('ends the run when an agent sends a message', () => {
    const drafts = decide(welcomed(), agentSends(1));
    assert.deepEqual(types(drafts), ['MessageQueued', 'FlowEnded']);
    assert.deepEqual(dataOf(drafts, 'FlowEnded'), {
      runId: runOf(1),
      reason: 'agent_takeover',
      detail: `agent ${agentId} replied`,
    });
  });

  it('keeps the bot off after an agent replied', () => {
    const events = history([agentSends(1)], prepared(), welcomed());
    assert.equal(stateOf(events).bot.paused, true);
    assert.deepEqual(types(decide(events, says(2, 'sales'))), ['MessageReceived']);
  });

  it('ends nothing when an agent writes and no run is in progress', () => {
    assert.deepEqual(types(decide(quiet(), agentSends(1))), ['MessageQueued']);
  });

  it('ends the run when the conversation is assigned to an agent', () => {
    const drafts = decide(welcomed(), assign(agentId));
    assert.deepEqual(drafts.map(withoutId), [
      { type: 'ConversationAssigned', data: { assigneeId: agentId, queueId: null, by: supervisorId } },
      {
        type: 'FlowEnded',
        data: {
          runId: runOf(1),
          reason: 'agent_takeover',
          detail: `assigned to ${agentId} by ${supervisorId}`,
        },
      },
    ]);
  });

  it('lets the run go on when the conversation only moves to a queue', () => {
    assert.deepEqual(types(decide(welcomed(), assign(null, queueA))), ['ConversationAssigned']);
  });
});

describe('decideBot: resolve', () => {
  it('ends the run as resolved before resolving', () => {
    assert.deepEqual(decide(welcomed(), resolve).map(withoutId), [
      {
        type: 'FlowEnded',
        data: { runId: runOf(1), reason: 'resolved', detail: `resolved by ${supervisorId}` },
      },
      { type: 'ConversationResolved', data: { by: supervisorId } },
    ]);
  });

  it('starts the default again when the customer reopens it', () => {
    const events = history([resolve], prepared(), welcomed());
    const drafts = decide(events, says(2, 'hi again'));
    assert.deepEqual(types(drafts), [
      'ConversationReopened',
      'MessageReceived',
      'FlowRunStarted',
      'MessageQueued',
      'FlowAdvanced',
    ]);
    assert.deepEqual(dataOf(drafts, 'FlowRunStarted').runId, runOf(2));
  });

  it('turns the bot back on after a handoff', () => {
    const events = history([says(2, 'support'), resolve], prepared(), welcomed());
    assert.equal(stateOf(events).bot.paused, false);
    assert.equal(dataOf(decide(events, says(3, 'hi')), 'FlowRunStarted').flowId, welcomeFlow);
  });
});

// ---------------------------------------------------------------------------------------------------
// Handing back
// ---------------------------------------------------------------------------------------------------

describe('decideBot: HandBackToBot', () => {
  /** An agent took the welcome run over by being assigned. */
  const takenOver = () => history([assign(agentId, queueA)], prepared(), welcomed());

  it('unassigns the agent and resumes the bot', () => {
    assert.deepEqual(decide(takenOver(), handBack(null)).map(withoutId), [
      { type: 'ConversationAssigned', data: { assigneeId: null, queueId: queueA, by: supervisorId } },
      { type: 'BotResumed', data: { by: supervisorId } },
    ]);
  });

  it('lets triggers start runs again', () => {
    const events = history([handBack(null)], prepared(), takenOver());
    assert.equal(dataOf(decide(events, says(2, 'order 42')), 'FlowRunStarted').flowId, ordersFlow);
  });

  it('starts the flow it names, with the message the customer last wrote', () => {
    const command = handBack(ordersFlow);
    const drafts = decide(takenOver(), command);
    assert.deepEqual(types(drafts), [
      'ConversationAssigned',
      'BotResumed',
      'FlowRunStarted',
      'MessageQueued',
      'FlowAdvanced',
    ]);
    assert.deepEqual(dataOf(drafts, 'FlowRunStarted'), {
      runId: deterministicId('test/run/handback'),
      chatbotId: ordersBot.id,
      flowId: ordersFlow,
      version: 1,
      trigger: { type: 'handback', value: null },
    });
    assert.deepEqual(sentTexts(drafts), ['Checking: hi']);
  });

  it('refuses a flow without a published version', () => {
    assert.throws(
      () => decide(takenOver(), handBack(draftFlow)),
      (error: unknown) => error instanceof AppError && error.code === 'flow.not_published',
    );
  });

  it('does nothing when the bot already has the conversation', () => {
    assert.deepEqual(decide(quiet(), handBack(null)), []);
  });

  it('replaces a run in progress with the flow it names', () => {
    const drafts = decide(welcomed(), handBack(quizFlow));
    // The old run ends (pausing the bot), then the bot is on again for the new one.
    assert.deepEqual(types(drafts), [
      'FlowEnded',
      'BotResumed',
      'FlowRunStarted',
      'MessageQueued',
      'FlowAdvanced',
    ]);
    assert.equal(dataOf(drafts, 'FlowEnded').runId, runOf(1));
  });

  it('leaves the bot on once the flow handed back to completes', () => {
    const events = history([handBack(welcomeFlow), says(2, 'sales')], prepared(), welcomed());
    assert.equal(stateOf(events).bot.run, null);
    assert.equal(stateOf(events).bot.paused, false);
    assert.equal(dataOf(decide(events, says(3, 'order 42')), 'FlowRunStarted').flowId, ordersFlow);
  });
});

// ---------------------------------------------------------------------------------------------------
// ResumeFlow
// ---------------------------------------------------------------------------------------------------

describe('decideBot: ResumeFlow', () => {
  /** The orders run, waiting for its API call. */
  const waitingForApi = () => history([says(2, 'order 42')], prepared(), quiet());
  const shipped: ApiOutcome = { ok: true, status: 200, body: { status: 'shipped' } };

  it('advances the run with the API result', () => {
    const events = waitingForApi();
    const drafts = decide(events, resumeWith(events, apiResult(events, shipped)));
    assert.deepEqual(types(drafts), ['MessageQueued', 'FlowAdvanced', 'FlowEnded']);
    assert.deepEqual(sentTexts(drafts), ['Your order is shipped']);
    assert.deepEqual(dataOf(drafts, 'FlowAdvanced'), {
      runId: runOf(2),
      turn: 2,
      flowId: ordersFlow,
      version: 1,
      steps: [
        { flowId: ordersFlow, version: 1, nodeId: 'call', type: 'api_call' },
        { flowId: ordersFlow, version: 1, nodeId: 'done', type: 'text' },
      ],
      set: { 'api.status': 200, 'api.error': null, status: 'shipped' },
      waiting: null,
    });
    assert.deepEqual(dataOf(drafts, 'FlowEnded').reason, 'completed');
  });

  it('ignores a result for another turn, run or request', () => {
    const events = waitingForApi();
    const result = apiResult(events, shipped);
    assert.deepEqual(decide(events, resumeWith(events, result, { turn: 2 })), []);
    assert.deepEqual(decide(events, resumeWith(events, result, { turn: 0 })), []);
    assert.deepEqual(
      decide(events, resumeWith(events, result, { runId: deterministicId('test/run/other') })),
      [],
    );
    const otherRequest = apiResult(events, shipped, deterministicId('test/request/other'));
    assert.deepEqual(decide(events, resumeWith(events, otherRequest)), []);
  });

  it('ignores a result delivered twice', () => {
    const events = waitingForApi();
    const command = resumeWith(events, apiResult(events, shipped));
    const after = history([command], prepared(), events);
    assert.deepEqual(decide(after, command), []);
  });

  it('ignores a timeout while the run waits for an API call', () => {
    const events = waitingForApi();
    assert.deepEqual(decide(events, resumeWith(events, { kind: 'timeout' }, { now: at(60 * minute) })), []);
  });

  it('ignores a result without what the bot reads', () => {
    const events = waitingForApi();
    assert.deepEqual(decide(events, resumeWith(events, apiResult(events, shipped)), null), []);
  });

  /** The quiz run, asked at t0 + 2 min: its question times out ten minutes later. */
  const waitingForAnswer = () => history([says(2, 'quiz')], prepared({ now: at(2 * minute) }), quiet());

  it('waits ten minutes from when it asked', () => {
    assert.deepEqual(runAfter(waitingForAnswer()).waiting, {
      kind: 'answer',
      nodeId: 'ask',
      retries: 0,
      timeoutAt: at(12 * minute),
    });
  });

  it('ignores a timeout before it is due', () => {
    const events = waitingForAnswer();
    assert.deepEqual(
      decide(events, resumeWith(events, { kind: 'timeout' }, { now: at(12 * minute - 1) })),
      [],
    );
  });

  it('takes the timeout branch once it is due', () => {
    const events = waitingForAnswer();
    const drafts = decide(events, resumeWith(events, { kind: 'timeout' }, { now: at(12 * minute) }));
    assert.deepEqual(types(drafts), ['MessageQueued', 'FlowAdvanced', 'FlowEnded']);
    assert.deepEqual(sentTexts(drafts), ['Bye for now']);
  });

  it('hands the conversation to humans rather than send after the 24-hour window', () => {
    const events = waitingForAnswer();
    const late = at(25 * 60 * minute);
    const drafts = decide(
      events,
      resumeWith(events, { kind: 'timeout' }, { now: late }),
      prepared({ now: late }),
    );
    assert.deepEqual(types(drafts), ['FlowAdvanced', 'FlowEnded']);
    assert.equal(dataOf(drafts, 'FlowEnded').reason, 'outside_window');
    assert.match(dataOf(drafts, 'FlowEnded').detail ?? '', /more than 24 hours ago/);
    assert.equal(stateOf([...events, ...drafts]).bot.paused, true);
  });

  it('ignores a timeout once the question was answered', () => {
    const events = waitingForAnswer();
    const timeout = resumeWith(events, { kind: 'timeout' }, { now: at(12 * minute) });
    const answered = history([says(3, 'yes')], prepared(), events);
    assert.deepEqual(decide(answered, timeout), []);
  });

  it('ignores an API result while the run waits for an answer', () => {
    const events = waitingForAnswer();
    const result = {
      kind: 'api_result',
      requestId: deterministicId('test/request/x'),
      outcome: shipped,
    } as const;
    assert.deepEqual(decide(events, resumeWith(events, result)), []);
  });
});

// ---------------------------------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------------------------------

describe('decideBot: event schemas', () => {
  const registry = new SchemaRegistry();

  it('validates every draft decided in this file against its event schema', () => {
    const seen = new Set(produced.map((draft) => draft.type));
    for (const type of [
      'FlowRunStarted',
      'FlowAdvanced',
      'FlowEnded',
      'BotResumed',
      'MessageQueued',
    ] as const) {
      assert.ok(seen.has(type), `an example of ${type}`);
    }
    for (const draft of produced) {
      assert.deepEqual(
        registry.validate(`events/${draft.type}.v1`, JSON.parse(JSON.stringify(draft.data))),
        [],
        `${draft.type}: ${JSON.stringify(draft.data)}`,
      );
    }
  });
});
