import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { InboundContent } from '../../src/conversation/messageContent.ts';
import { deterministicId } from '../../src/eventsourcing/deterministicId.ts';
import type { Value } from '../../src/flow/expression.ts';
import type { FlowDefinition, FlowNode } from '../../src/flow/flowDefinition.ts';
import { runFlow } from '../../src/flow/flowExecutor.ts';
import type {
  BotEnvironment,
  FlowInput,
  FlowRef,
  FlowRun,
  FlowTurn,
  Waiting,
} from '../../src/flow/flowRun.ts';
import { graphRequestBody } from '../../src/whatsapp/graphClient.ts';

// ---------------------------------------------------------------------------------------------------
// Builders: definitions by hand, an environment from a map of them, and runs played turn by turn
// ---------------------------------------------------------------------------------------------------

const mainFlow = deterministicId('test/flow/main');
const otherFlow = deterministicId('test/flow/other');
const draftOnlyFlow = deterministicId('test/flow/draft-only');
const queueId = deterministicId('test/queue/sales');
const assigneeId = deterministicId('test/user/agent');
const now = '2026-11-23T08:30:00.000Z';

/** flowId → its versions and the one published. */
type Flows = Record<string, { published?: number; versions: Record<number, FlowDefinition> }>;

const flow = (nodes: FlowNode[], extra: Partial<FlowDefinition> = {}): FlowDefinition => ({
  start: nodes[0]?.id ?? 'missing',
  nodes,
  ...extra,
});

function environment(flows: Flows, extra: Partial<BotEnvironment> = {}): BotEnvironment {
  return {
    now,
    maxSteps: 100,
    definition: ({ flowId, version }) => flows[flowId]?.versions[version],
    published: (flowId) => flows[flowId]?.published,
    contact: { name: 'Ana', waId: '15551234567', attributes: { plan: 'gold', vip: true } },
    businessOpen: true,
    ...extra,
  };
}

const newRun = (flowRef: FlowRef, variables: Record<string, Value> = {}): FlowRun => ({
  runId: deterministicId('test/run/1'),
  chatbotId: deterministicId('test/chatbot/1'),
  flow: flowRef,
  variables,
  waiting: null,
  turn: 0,
  history: [],
});

/** The run after a turn, as the conversation keeps it (decideBot's advance). */
const after = (run: FlowRun, turn: FlowTurn): FlowRun => ({
  ...run,
  flow: turn.flow,
  variables: { ...run.variables, ...turn.set },
  waiting: turn.outcome.kind === 'wait' ? turn.outcome.waiting : null,
  turn: run.turn + 1,
});

type Play = {
  run: FlowRun;
  turn: FlowTurn;
  /** Feeds the run what it waits for; `text` is `message.text` for that turn, `now` its clock. */
  gets(input: FlowInput, text?: string | null, now?: string): Play;
  says(text: string): Play;
};

type PlayOptions = {
  flows?: Flows;
  variables?: Record<string, Value>;
  env?: Partial<BotEnvironment>;
  text?: string | null;
};

/** Starts `definition` (published as version 1 of mainFlow, with any other `flows`). */
function play(definition: FlowDefinition, options: PlayOptions = {}): Play {
  const env = environment(
    { [mainFlow]: { published: 1, versions: { 1: definition } }, ...options.flows },
    options.env,
  );
  const step = (run: FlowRun, input: FlowInput, text: string | null, clock: string): Play => {
    const turn = runFlow(run, input, { ...env, now: clock }, text);
    const played: Play = {
      run,
      turn,
      gets: (next, nextText = null, nextClock = clock) => step(after(run, turn), next, nextText, nextClock),
      says: (said) => played.gets(answer(said), said),
    };
    return played;
  };
  const start = newRun({ flowId: mainFlow, version: 1 }, options.variables);
  return step(start, { kind: 'start' }, options.text ?? null, env.now);
}

const answer = (text: string): FlowInput => ({ kind: 'answer', content: { type: 'text', text } });
const replied = (content: InboundContent): FlowInput => ({ kind: 'answer', content });
const buttonReply = (id: string, title: string): FlowInput =>
  replied({ type: 'interactive', interactive: { kind: 'button_reply', id, title } });
const listReply = (id: string, title: string): FlowInput =>
  replied({ type: 'interactive', interactive: { kind: 'list_reply', id, title } });

const texts = (turn: FlowTurn): string[] =>
  turn.messages.map((message) => (message.type === 'text' ? message.text : `<${message.type}>`));
const visited = (turn: FlowTurn): string[] => turn.steps.map((step) => step.nodeId);
const waitingOf = (turn: FlowTurn): Waiting => {
  assert.equal(turn.outcome.kind, 'wait', `expected a wait, got ${JSON.stringify(turn.outcome)}`);
  return (turn.outcome as { waiting: Waiting }).waiting;
};
const stopOf = (turn: FlowTurn) => {
  assert.equal(turn.outcome.kind, 'stop', `expected a stop, got ${JSON.stringify(turn.outcome)}`);
  return turn.outcome as Extract<FlowTurn['outcome'], { kind: 'stop' }>;
};

const say = (id: string, text: string, next?: string): FlowNode => ({ id, type: 'text', text, next });
const end = (id = 'end'): FlowNode => ({ id, type: 'end' });

/** A question of `kind` stored in `answer`, going to `done`, which echoes it. */
const asking = (input: Extract<FlowNode, { type: 'question' }>['input'], extra: Partial<FlowNode> = {}) =>
  flow([
    {
      id: 'ask',
      type: 'question',
      text: 'Your answer?',
      variable: 'answer',
      input,
      next: 'done',
      ...extra,
    } as FlowNode,
    say('done', 'Got {{answer}}'),
  ]);

// ---------------------------------------------------------------------------------------------------
// text
// ---------------------------------------------------------------------------------------------------

describe('runFlow: text', () => {
  it('interpolates a variable, the contact and the message text', () => {
    const { turn } = play(
      flow([say('hi', 'Hi {{contact.name}} ({{contact.waId}}), {{order}}: "{{message.text}}"')]),
      {
        variables: { order: 'A-17' },
        text: 'where is my order?',
      },
    );
    assert.deepEqual(turn.messages, [
      { type: 'text', text: 'Hi Ana (15551234567), A-17: "where is my order?"' },
    ]);
  });

  it('renders an unknown variable empty', () => {
    assert.deepEqual(texts(play(flow([say('hi', 'Hi {{nobody}}!')])).turn), ['Hi !']);
  });

  it('sends nothing for a text that renders empty, and goes on', () => {
    const { turn } = play(flow([say('blank', '{{nobody}} ', 'bye'), say('bye', 'Bye')]));
    assert.deepEqual(texts(turn), ['Bye']);
    assert.deepEqual(visited(turn), ['blank', 'bye']);
  });

  it('sends texts in order and ends after the last', () => {
    const { turn } = play(flow([say('a', 'One', 'b'), say('b', 'Two')]));
    assert.deepEqual(texts(turn), ['One', 'Two']);
    assert.deepEqual(turn.outcome, { kind: 'end' });
    assert.deepEqual(turn.steps, [
      { flowId: mainFlow, version: 1, nodeId: 'a', type: 'text' },
      { flowId: mainFlow, version: 1, nodeId: 'b', type: 'text' },
    ]);
  });
});

// ---------------------------------------------------------------------------------------------------
// media
// ---------------------------------------------------------------------------------------------------

describe('runFlow: media', () => {
  const media = (kind: 'image' | 'audio' | 'video' | 'document') =>
    play(
      flow([
        {
          id: 'm',
          type: 'media',
          media: {
            kind,
            url: 'https://cdn.example.com/{{file}}',
            caption: 'For {{contact.name}}',
            filename: '{{file}}',
          },
        },
      ]),
      { variables: { file: 'menu.pdf' } },
    ).turn.messages;

  it('sends each kind with its url, caption and filename interpolated', () => {
    for (const kind of ['image', 'audio', 'video', 'document'] as const) {
      assert.deepEqual(media(kind), [
        {
          type: kind,
          media: { url: 'https://cdn.example.com/menu.pdf', caption: 'For Ana', filename: 'menu.pdf' },
        },
      ]);
    }
  });

  it('reaches Meta with a caption only on images, videos and documents, a filename only on documents', () => {
    const wire = (kind: 'image' | 'audio' | 'video' | 'document') => {
      const [content] = media(kind);
      assert.ok(content);
      return graphRequestBody({ phoneNumberId: '1', accessToken: 't', to: '15551234567', content })[kind];
    };
    const url = 'https://cdn.example.com/menu.pdf';
    assert.deepEqual(wire('image'), { link: url, caption: 'For Ana' });
    assert.deepEqual(wire('video'), { link: url, caption: 'For Ana' });
    assert.deepEqual(wire('audio'), { link: url });
    assert.deepEqual(wire('document'), { link: url, caption: 'For Ana', filename: 'menu.pdf' });
  });

  it('sends no caption or filename the node does not have', () => {
    const { turn } = play(
      flow([{ id: 'm', type: 'media', media: { kind: 'image', url: 'https://x.example.com/a.png' } }]),
    );
    assert.deepEqual(turn.messages, [{ type: 'image', media: { url: 'https://x.example.com/a.png' } }]);
  });
});

// ---------------------------------------------------------------------------------------------------
// question
// ---------------------------------------------------------------------------------------------------

describe('runFlow: question', () => {
  it('asks and waits for the answer', () => {
    const { turn } = play(asking({ kind: 'text' }));
    assert.deepEqual(texts(turn), ['Your answer?']);
    assert.deepEqual(waitingOf(turn), { kind: 'answer', nodeId: 'ask', retries: 0, timeoutAt: null });
  });

  it('stores a text answer trimmed in its variable and goes on', () => {
    const { turn } = play(asking({ kind: 'text' })).says('  Ana Souza ');
    assert.deepEqual(turn.set, { answer: 'Ana Souza' });
    assert.deepEqual(texts(turn), ['Got Ana Souza']);
    assert.deepEqual(visited(turn), ['ask', 'done']);
    assert.deepEqual(turn.outcome, { kind: 'end' });
  });

  for (const [said, value] of [
    ['42', 42],
    ['1,5', 1.5],
    ['-3.25', -3.25],
  ] as const) {
    it(`reads the number "${said}" as ${value}`, () => {
      assert.deepEqual(play(asking({ kind: 'number' })).says(said).turn.set, { answer: value });
    });
  }

  it('turns down a number that is not one', () => {
    const { turn } = play(asking({ kind: 'number' })).says('abc');
    assert.deepEqual(turn.set, {});
    assert.equal(stopOf(turn).reason, 'invalid_answer');
  });

  it('lower-cases an email', () => {
    assert.deepEqual(play(asking({ kind: 'email' })).says('Ana.Souza@Example.COM').turn.set, {
      answer: 'ana.souza@example.com',
    });
  });

  it('turns down an invalid email', () => {
    for (const said of ['ana@', 'ana@example', 'ana souza@example.com']) {
      assert.equal(stopOf(play(asking({ kind: 'email' })).says(said).turn).reason, 'invalid_answer', said);
    }
  });

  it('keeps a phone as + and its digits', () => {
    assert.deepEqual(play(asking({ kind: 'phone' })).says('+55 (11) 98765-4321').turn.set, {
      answer: '+5511987654321',
    });
  });

  it('turns down a phone too short', () => {
    assert.equal(stopOf(play(asking({ kind: 'phone' })).says('12345').turn).reason, 'invalid_answer');
  });

  for (const said of ['2024-02-29', '29/02/2024']) {
    it(`reads the date ${said} as 2024-02-29`, () => {
      assert.deepEqual(play(asking({ kind: 'date' })).says(said).turn.set, { answer: '2024-02-29' });
    });
  }

  it('turns down a date that does not exist', () => {
    for (const said of ['31/02/2024', '2023-02-29', 'tomorrow']) {
      assert.equal(stopOf(play(asking({ kind: 'date' })).says(said).turn).reason, 'invalid_answer', said);
    }
  });
});

describe('runFlow: question with choices', () => {
  const sizes = [
    { id: 'small', title: 'Small', next: 'small' },
    { id: 'large', title: 'Large' },
  ];
  const choosing = (options = sizes, style?: 'buttons' | 'list') =>
    flow([
      {
        id: 'ask',
        type: 'question',
        text: 'Size, {{contact.name}}?',
        variable: 'size',
        input: { kind: 'choice', options, ...(style ? { style } : {}) },
        next: 'other',
      },
      say('small', 'Small it is'),
      say('other', 'You chose {{size}}'),
    ]);
  const many = ['Açaí', 'Banana', 'Cherry', 'Date'].map((title, i) => ({
    id: `fruit-${i + 1}`,
    title,
    description: `${title} smoothie`,
  }));

  it('offers up to three options as reply buttons', () => {
    assert.deepEqual(play(choosing()).turn.messages, [
      {
        type: 'interactive',
        interactive: {
          type: 'button',
          body: { text: 'Size, Ana?' },
          action: {
            buttons: [
              { type: 'reply', reply: { id: 'small', title: 'Small' } },
              { type: 'reply', reply: { id: 'large', title: 'Large' } },
            ],
          },
        },
      },
    ]);
  });

  it('offers more than three options as a list whose rows keep their descriptions', () => {
    assert.deepEqual(play(choosing(many)).turn.messages, [
      {
        type: 'interactive',
        interactive: {
          type: 'list',
          body: { text: 'Size, Ana?' },
          action: {
            button: 'Choose',
            sections: [
              {
                title: 'Options',
                rows: many.map(({ id, title, description }) => ({ id, title, description })),
              },
            ],
          },
        },
      },
    ]);
  });

  it('offers a list when the style says so, however few the options', () => {
    const [message] = play(choosing(sizes, 'list')).turn.messages;
    assert.equal(message?.type === 'interactive' && message.interactive.type, 'list');
  });

  it('takes a button reply by its id and goes to the option’s node', () => {
    const { turn } = play(choosing()).gets(buttonReply('small', 'Something else'));
    assert.deepEqual(turn.set, { size: 'small' });
    assert.deepEqual(texts(turn), ['Small it is']);
  });

  it('takes a list reply by its id', () => {
    assert.deepEqual(play(choosing(many)).gets(listReply('fruit-4', 'Date')).turn.set, { size: 'fruit-4' });
  });

  it('takes a typed title, case and accents ignored', () => {
    assert.deepEqual(play(choosing(many)).says(' ACAI ').turn.set, { size: 'fruit-1' });
  });

  it('takes the option’s number', () => {
    assert.deepEqual(play(choosing(many)).says('3').turn.set, { size: 'fruit-3' });
  });

  it('goes to the node’s next for an option without its own', () => {
    const { turn } = play(choosing()).says('large');
    assert.deepEqual(texts(turn), ['You chose large']);
  });

  it('turns down a choice nothing matches', () => {
    for (const said of ['medium', '0', '9']) {
      assert.equal(stopOf(play(choosing()).says(said).turn).reason, 'invalid_answer', said);
    }
  });
});

describe('runFlow: question retries, invalid answers and timeouts', () => {
  const retrying = (extra: Partial<FlowNode>) =>
    flow([
      {
        id: 'ask',
        type: 'question',
        text: 'Your age?',
        variable: 'age',
        input: { kind: 'number' },
        retry: { text: 'A number please, {{contact.name}}', max: 2 },
        next: 'ok',
        ...extra,
      } as FlowNode,
      say('ok', 'Age {{age}}'),
      say('invalid', 'Let me get a human'),
      say('late', 'Still there?'),
    ]);

  it('sends the retry prompt up to retry.max times, then takes onInvalid', () => {
    const first = play(retrying({ onInvalid: 'invalid' })).says('x');
    assert.deepEqual(texts(first.turn), ['A number please, Ana']);
    assert.deepEqual(waitingOf(first.turn), { kind: 'answer', nodeId: 'ask', retries: 1, timeoutAt: null });
    const second = first.says('y');
    assert.deepEqual(texts(second.turn), ['A number please, Ana']);
    assert.deepEqual(waitingOf(second.turn), { kind: 'answer', nodeId: 'ask', retries: 2, timeoutAt: null });
    const third = second.says('z');
    assert.deepEqual(texts(third.turn), ['Let me get a human']);
    assert.deepEqual(visited(third.turn), ['ask', 'invalid']);
    assert.deepEqual(third.turn.outcome, { kind: 'end' });
  });

  it('accepts a valid answer after a retry', () => {
    const { turn } = play(retrying({})).says('x').says('30');
    assert.deepEqual(turn.set, { age: 30 });
    assert.deepEqual(texts(turn), ['Age 30']);
  });

  it('stops for a human with invalid_answer when there is no onInvalid', () => {
    const { turn } = play(retrying({})).says('x').says('y').says('z');
    assert.deepEqual(turn.messages, []);
    assert.deepEqual(turn.outcome, {
      kind: 'stop',
      reason: 'invalid_answer',
      detail: "no valid answer to 'ask' after 3 tries",
      queueId: null,
      assigneeId: null,
    });
  });

  it('waits until now + timeout.seconds, restarting the clock on a retry', () => {
    const definition = retrying({ timeout: { seconds: 90, next: 'late' } });
    const started = play(definition);
    assert.deepEqual(waitingOf(started.turn), {
      kind: 'answer',
      nodeId: 'ask',
      retries: 0,
      timeoutAt: '2026-11-23T08:31:30.000Z',
    });
    const retried = started.gets(answer('x'), 'x', '2026-11-23T08:31:00.000Z');
    assert.deepEqual(waitingOf(retried.turn), {
      kind: 'answer',
      nodeId: 'ask',
      retries: 1,
      timeoutAt: '2026-11-23T08:32:30.000Z',
    });
  });

  it('takes timeout.next when the timeout comes first', () => {
    const { turn } = play(retrying({ timeout: { seconds: 90, next: 'late' } })).gets({ kind: 'timeout' });
    assert.deepEqual(texts(turn), ['Still there?']);
    assert.deepEqual(turn.set, {});
    assert.deepEqual(visited(turn), ['ask', 'late']);
  });
});

// ---------------------------------------------------------------------------------------------------
// condition
// ---------------------------------------------------------------------------------------------------

describe('runFlow: condition', () => {
  const noAttributes = { name: 'Ana', waId: '15551234567', attributes: {} };
  const branching = (branches: { when: string; next: string }[]) =>
    flow([
      { id: 'check', type: 'condition', branches, else: 'no' },
      say('yes', 'yes'),
      say('also', 'also'),
      say('no', 'no'),
    ]);
  const taken = (branches: { when: string; next: string }[], options: PlayOptions = {}) =>
    texts(play(branching(branches), options).turn);

  it('takes the first branch that holds', () => {
    assert.deepEqual(
      taken(
        [
          { when: 'age < 18', next: 'also' },
          { when: 'age >= 18', next: 'yes' },
          { when: 'age > 0', next: 'also' },
        ],
        { variables: { age: 30 } },
      ),
      ['yes'],
    );
  });

  it('takes else when no branch holds', () => {
    assert.deepEqual(taken([{ when: "city == 'Recife'", next: 'yes' }], { variables: { city: 'Natal' } }), [
      'no',
    ]);
  });

  it('compares a contact attribute', () => {
    assert.deepEqual(taken([{ when: "contact.plan == 'gold'", next: 'yes' }]), ['yes']);
    assert.deepEqual(
      taken([{ when: "contact.plan == 'gold'", next: 'yes' }], { env: { contact: noAttributes } }),
      ['no'],
    );
  });

  it('reads business.open', () => {
    const branches = [{ when: 'business.open', next: 'yes' }];
    assert.deepEqual(taken(branches, { env: { businessOpen: true } }), ['yes']);
    assert.deepEqual(taken(branches, { env: { businessOpen: false } }), ['no']);
    assert.deepEqual(taken([{ when: 'not business.open', next: 'yes' }], { env: { businessOpen: false } }), [
      'yes',
    ]);
  });

  it('combines with and, or, contains and matches', () => {
    const branches = [
      { when: "message.text contains 'refund' and (contact.vip or total > 100)", next: 'yes' },
      { when: "message.text matches '^hi'", next: 'also' },
    ];
    assert.deepEqual(taken(branches, { text: 'I want a refund', variables: { total: 10 } }), ['yes']);
    assert.deepEqual(taken(branches, { text: 'hi there', variables: { total: 10 } }), ['also']);
  });
});

// ---------------------------------------------------------------------------------------------------
// api_call
// ---------------------------------------------------------------------------------------------------

describe('runFlow: api_call', () => {
  const calling = (
    request: Partial<Extract<FlowNode, { type: 'api_call' }>['request']>,
    map?: Record<string, string>,
  ) =>
    flow([
      {
        id: 'call',
        type: 'api_call',
        request: { method: 'POST', url: 'https://crm.example.com/orders/{{order}}', ...request },
        ...(map ? { map } : {}),
        next: 'ok',
        onError: 'failed',
      },
      say('ok', 'Status {{status}} ({{api.status}})'),
      say('failed', 'Failed: {{api.error}} ({{api.status}})'),
    ]);
  const options: PlayOptions = { variables: { order: 'A 17', token: 's3cr3t' } };

  it('waits for the call with its url, headers and JSON body interpolated, and a default timeout', () => {
    const { turn } = play(
      calling({
        headers: { Authorization: 'Bearer {{token}}', 'X-Contact': '{{contact.waId}}' },
        body: {
          order: '{{order}}',
          items: [{ name: '{{contact.name}}', quantity: 2 }],
          gift: false,
          note: null,
        },
      }),
      options,
    );
    assert.deepEqual(turn.messages, []);
    const waiting = waitingOf(turn);
    assert.deepEqual(waiting, {
      kind: 'api',
      nodeId: 'call',
      requestId: waiting.kind === 'api' ? waiting.requestId : '',
      request: {
        method: 'POST',
        url: 'https://crm.example.com/orders/A 17',
        headers: { Authorization: 'Bearer s3cr3t', 'X-Contact': '15551234567' },
        body: JSON.stringify({
          order: 'A 17',
          items: [{ name: 'Ana', quantity: 2 }],
          gift: false,
          note: null,
        }),
        timeoutMs: 10_000,
      },
    });
    assert.match(waiting.kind === 'api' ? waiting.requestId : '', /^[0-9a-f-]{36}$/);
  });

  it('sends a string body as it is written, interpolated, and keeps a given timeout', () => {
    const waiting = waitingOf(play(calling({ body: 'order={{order}}', timeoutMs: 2500 }), options).turn);
    assert.equal(waiting.kind === 'api' && waiting.request.body, 'order=A 17');
    assert.equal(waiting.kind === 'api' && waiting.request.timeoutMs, 2500);
  });

  it('sends no body when there is none', () => {
    const waiting = waitingOf(play(calling({ method: 'GET' }), options).turn);
    assert.deepEqual(waiting.kind === 'api' && [waiting.request.body, waiting.request.headers], [null, {}]);
  });

  const resumed = (
    outcome: Extract<FlowInput, { kind: 'api_result' }>['outcome'],
    map?: Record<string, string>,
  ) => {
    const started = play(calling({}, map), options);
    const waiting = waitingOf(started.turn);
    return started.gets({
      kind: 'api_result',
      requestId: waiting.kind === 'api' ? waiting.requestId : '',
      outcome,
    }).turn;
  };

  it('maps JSON pointers of a 2xx body and goes on', () => {
    const body = {
      order: {
        status: 'shipped',
        'a/b': 'slash',
        items: [{ sku: 'X1' }, { sku: 'X2' }],
        total: 99.5,
        paid: true,
      },
      tags: ['a', 'b'],
    };
    const turn = resumed(
      { ok: true, status: 200, body },
      {
        status: '/order/status',
        second: '/order/items/1/sku',
        total: '/order/total',
        paid: '/order/paid',
        escaped: '/order/a~1b',
        missing: '/order/nothing/here',
        outOfRange: '/order/items/7',
        items: '/order/items',
        tags: '/tags',
      },
    );
    assert.deepEqual(turn.set, {
      'api.status': 200,
      'api.error': null,
      status: 'shipped',
      second: 'X2',
      total: 99.5,
      paid: true,
      escaped: 'slash',
      missing: null,
      outOfRange: null,
      items: '[{"sku":"X1"},{"sku":"X2"}]',
      tags: '["a","b"]',
    });
    assert.deepEqual(texts(turn), ['Status shipped (200)']);
  });

  it('takes onError on a failure, with api.status and api.error', () => {
    const turn = resumed({ ok: false, status: 503, error: 'HTTP 503', body: 'down' }, { status: '/status' });
    assert.deepEqual(turn.set, { 'api.status': 503, 'api.error': 'HTTP 503' });
    assert.deepEqual(texts(turn), ['Failed: HTTP 503 (503)']);
  });

  it('takes onError on a refusal, api.status null', () => {
    const turn = resumed({ ok: false, status: null, error: 'refused: 127.0.0.1 is a loopback address' });
    assert.deepEqual(turn.set, {
      'api.status': null,
      'api.error': 'refused: 127.0.0.1 is a loopback address',
    });
    assert.deepEqual(texts(turn), ['Failed: refused: 127.0.0.1 is a loopback address ()']);
  });
});

// ---------------------------------------------------------------------------------------------------
// assignment, handoff, jump_to_flow, end
// ---------------------------------------------------------------------------------------------------

describe('runFlow: assignment', () => {
  it('sets variables from expressions', () => {
    const { turn } = play(
      flow([
        {
          id: 'set',
          type: 'assignment',
          set: {
            adult: 'age >= 18',
            plan: 'contact.plan',
            greeting: "'hello'",
            count: '3',
            open: 'business.open',
          },
          next: 'show',
        },
        say('show', '{{greeting}} {{plan}} {{adult}} {{count}}'),
      ]),
      { variables: { age: 20 } },
    );
    assert.deepEqual(turn.set, { adult: true, plan: 'gold', greeting: 'hello', count: 3, open: true });
    assert.deepEqual(texts(turn), ['hello gold true 3']);
  });

  it('evaluates every expression against the values before the node (a swap)', () => {
    const { turn } = play(flow([{ id: 'swap', type: 'assignment', set: { a: 'b', b: 'a' } }]), {
      variables: { a: 1, b: 2 },
    });
    assert.deepEqual(turn.set, { a: 2, b: 1 });
  });
});

describe('runFlow: handoff', () => {
  it('sends its text, then stops for the queue and agent it names', () => {
    const { turn } = play(
      flow([{ id: 'human', type: 'handoff', text: 'One moment, {{contact.name}}', queueId, assigneeId }]),
    );
    assert.deepEqual(texts(turn), ['One moment, Ana']);
    assert.deepEqual(turn.outcome, { kind: 'stop', reason: 'handoff', detail: null, queueId, assigneeId });
  });

  it('stops without text, queue or agent', () => {
    const { turn } = play(flow([{ id: 'human', type: 'handoff' }]));
    assert.deepEqual(turn.messages, []);
    assert.deepEqual(turn.outcome, {
      kind: 'stop',
      reason: 'handoff',
      detail: null,
      queueId: null,
      assigneeId: null,
    });
  });
});

describe('runFlow: jump_to_flow', () => {
  const jumping = flow([
    say('intro', 'Let me pass you on', 'jump'),
    { id: 'jump', type: 'jump_to_flow', flowId: otherFlow },
  ]);

  it('continues at the published version’s start, in that flow', () => {
    const { turn } = play(jumping, {
      variables: { name: 'Ana' },
      flows: {
        [otherFlow]: {
          published: 2,
          versions: {
            1: flow([say('old', 'old version')]),
            2: flow(
              [
                say('other', 'Welcome to sales, {{name}}', 'ask'),
                {
                  id: 'ask',
                  type: 'question',
                  text: 'Product?',
                  variable: 'product',
                  input: { kind: 'text' },
                },
              ],
              { variables: ['name'] },
            ),
          },
        },
      },
    });
    assert.deepEqual(texts(turn), ['Let me pass you on', 'Welcome to sales, Ana', 'Product?']);
    assert.deepEqual(turn.flow, { flowId: otherFlow, version: 2 });
    assert.deepEqual(
      turn.steps.map((step) => [step.flowId, step.version, step.nodeId]),
      [
        [mainFlow, 1, 'intro'],
        [mainFlow, 1, 'jump'],
        [otherFlow, 2, 'other'],
        [otherFlow, 2, 'ask'],
      ],
    );
    assert.equal(waitingOf(turn).nodeId, 'ask');
  });

  it('resumes in the flow it jumped to', () => {
    const { turn } = play(jumping, {
      flows: {
        [otherFlow]: {
          published: 1,
          versions: {
            1: flow([
              {
                id: 'ask',
                type: 'question',
                text: 'Product?',
                variable: 'product',
                input: { kind: 'text' },
                next: 'thanks',
              },
              say('thanks', 'Thanks for {{product}}'),
            ]),
          },
        },
      },
    }).says('shoes');
    assert.deepEqual(texts(turn), ['Thanks for shoes']);
    assert.deepEqual(turn.flow, { flowId: otherFlow, version: 1 });
  });

  it('stops with flow_unavailable when the flow has no published version', () => {
    const { turn } = play(flow([{ id: 'jump', type: 'jump_to_flow', flowId: draftOnlyFlow }]), {
      flows: { [draftOnlyFlow]: { versions: { 1: flow([say('x', 'x')]) } } },
    });
    assert.deepEqual(turn.messages, []);
    assert.equal(stopOf(turn).reason, 'flow_unavailable');
    assert.deepEqual(turn.flow, { flowId: mainFlow, version: 1 });
  });
});

describe('runFlow: end', () => {
  it('ends at an end node, whatever follows it', () => {
    const { turn } = play(
      flow([say('a', 'Bye', 'end'), { id: 'end', type: 'end', next: 'after' }, say('after', 'never')]),
    );
    assert.deepEqual(texts(turn), ['Bye']);
    assert.deepEqual(turn.outcome, { kind: 'end' });
  });

  it('ends after a node without next', () => {
    assert.deepEqual(play(flow([say('a', 'Bye')])).turn.outcome, { kind: 'end' });
  });

  it('stops with flow_unavailable when its own version is missing', () => {
    const env = environment({});
    const turn = runFlow(newRun({ flowId: mainFlow, version: 3 }), { kind: 'start' }, env, null);
    assert.equal(stopOf(turn).reason, 'flow_unavailable');
    assert.deepEqual(turn.steps, []);
  });
});

// ---------------------------------------------------------------------------------------------------
// Step limit and determinism
// ---------------------------------------------------------------------------------------------------

describe('runFlow: step limit', () => {
  const loop = flow([
    { id: 'count', type: 'assignment', set: { looping: 'true' }, next: 'check' },
    { id: 'check', type: 'condition', branches: [{ when: 'looping', next: 'count' }], else: 'end' },
    end(),
  ]);

  it('stops a loop with step_limit after exactly maxSteps steps', () => {
    const { turn } = play(loop, { env: { maxSteps: 7 } });
    assert.equal(turn.steps.length, 7);
    assert.deepEqual(visited(turn), ['count', 'check', 'count', 'check', 'count', 'check', 'count']);
    assert.deepEqual(turn.set, { looping: true });
    const stopped = stopOf(turn);
    assert.equal(stopped.reason, 'step_limit');
    assert.match(stopped.detail ?? '', /more than 7 steps/);
  });

  it('lets a turn of exactly maxSteps steps finish', () => {
    const { turn } = play(flow([say('a', 'a', 'b'), say('b', 'b', 'c'), end('c')]), { env: { maxSteps: 3 } });
    assert.deepEqual(turn.outcome, { kind: 'end' });
  });

  it('stops a flow jumping to itself', () => {
    const { turn } = play(flow([{ id: 'again', type: 'jump_to_flow', flowId: mainFlow }]), {
      env: { maxSteps: 5 },
    });
    assert.equal(turn.steps.length, 5);
    assert.equal(stopOf(turn).reason, 'step_limit');
  });
});

describe('runFlow: determinism', () => {
  it('gives deep-equal turns, ids included, for the same inputs', () => {
    const definition = flow([
      { id: 'ask', type: 'question', text: 'Name?', variable: 'name', input: { kind: 'text' }, next: 'call' },
      {
        id: 'call',
        type: 'api_call',
        request: { method: 'POST', url: 'https://crm.example.com/leads', body: { name: '{{name}}' } },
        next: 'end',
        onError: 'end',
      },
      end(),
    ]);
    const once = () => play(definition).says('Ana').turn;
    const [first, second] = [once(), once()];
    assert.equal(waitingOf(first).kind, 'api');
    assert.deepEqual(first, second);
  });

  it('gives another request id on another turn of the run', () => {
    const definition = flow([
      {
        id: 'call',
        type: 'api_call',
        request: { method: 'GET', url: 'https://x.example.com' },
        next: 'call',
        onError: 'end',
      },
      end(),
    ]);
    const first = play(definition);
    const firstWaiting = waitingOf(first.turn);
    const requestId = firstWaiting.kind === 'api' ? firstWaiting.requestId : '';
    const second = waitingOf(
      first.gets({ kind: 'api_result', requestId, outcome: { ok: true, status: 204, body: null } }).turn,
    );
    assert.notEqual(second.kind === 'api' && second.requestId, requestId);
  });
});
