import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deterministicId } from '../../src/eventsourcing/deterministicId.ts';
import { ExpressionError, parseExpression } from '../../src/flow/expression.ts';
import type { FlowDefinition, FlowNode } from '../../src/flow/flowDefinition.ts';
import { type FlowIssue, validateFlow } from '../../src/flow/validateFlow.ts';
import { SchemaRegistry } from '../../src/schemas/schemaRegistry.ts';

const registry = new SchemaRegistry();
const salesFlow = deterministicId('test/flow/sales');
const deletedFlow = deterministicId('test/flow/deleted');
const queueId = deterministicId('test/queue/sales');

const validate = (definition: unknown): FlowIssue[] =>
  validateFlow(definition, { registry, flowExists: (flowId) => flowId === salesFlow });

const flow = (nodes: FlowNode[], extra: Partial<FlowDefinition> = {}): FlowDefinition => ({
  start: nodes[0]?.id ?? 'missing',
  nodes,
  ...extra,
});
const say = (id: string, text: string, next?: string): FlowNode => ({ id, type: 'text', text, next });
const end = (id = 'end'): FlowNode => ({ id, type: 'end' });

const unknownTarget = (id: string) => `'${id}' is not a node of this flow`;
const unconnected = 'branch left unconnected: it must name the node it goes to';
const unknownInText = (name: string) =>
  `unknown variable {{${name}}}: no node sets it and the flow does not declare it`;
const unknownInExpression = (name: string) =>
  `unknown variable '${name}': no node sets it and the flow does not declare it`;

/** A lead capture: greets, asks name, email and interest, saves the lead, and branches on the answer. */
const leadCapture = (): FlowDefinition => ({
  start: 'welcome',
  variables: ['campaign'],
  nodes: [
    {
      id: 'welcome',
      type: 'text',
      text: 'Hi {{contact.name}}! ({{campaign}})',
      next: 'ask_name',
      position: { x: 0, y: 0 },
    },
    {
      id: 'ask_name',
      type: 'question',
      text: 'Your name?',
      variable: 'name',
      input: { kind: 'text' },
      timeout: { seconds: 3600, next: 'sales' },
      next: 'ask_email',
    },
    {
      id: 'ask_email',
      type: 'question',
      text: 'Your email, {{name}}?',
      variable: 'email',
      input: { kind: 'email' },
      retry: { text: 'That is not an email, {{name}}', max: 2 },
      onInvalid: 'human',
      next: 'ask_interest',
    },
    {
      id: 'ask_interest',
      type: 'question',
      text: 'What brings you here?',
      variable: 'interest',
      input: {
        kind: 'choice',
        style: 'buttons',
        options: [
          { id: 'buy', title: 'Buy', next: 'save' },
          { id: 'support', title: 'Support', next: 'human' },
        ],
      },
    },
    {
      id: 'save',
      type: 'api_call',
      request: {
        method: 'POST',
        url: 'https://crm.example.com/leads?source={{campaign}}',
        headers: { 'X-Contact': '{{contact.waId}}' },
        body: { name: '{{name}}', email: '{{email}}', said: '{{message.text}}', tags: ['{{interest}}'] },
        timeoutMs: 5000,
      },
      map: { leadId: '/id' },
      next: 'check',
      onError: 'human',
    },
    {
      id: 'check',
      type: 'condition',
      branches: [
        { when: "api.status == 201 and business.open and contact.plan != 'free'", next: 'thanks' },
        { when: "leadId matches '^L-'", next: 'mark' },
      ],
      else: 'human',
    },
    { id: 'thanks', type: 'text', text: 'Thanks {{name}}, lead {{leadId}} ({{api.status}})', next: 'mark' },
    { id: 'mark', type: 'assignment', set: { captured: 'true', label: 'interest' }, next: 'done' },
    { id: 'done', type: 'end' },
    { id: 'human', type: 'handoff', text: 'A human will help, {{name}}', queueId },
    { id: 'sales', type: 'jump_to_flow', flowId: salesFlow },
  ],
});

describe('validateFlow: a valid flow', () => {
  it('finds nothing wrong with a lead-capture flow', () => {
    assert.deepEqual(validate(leadCapture()), []);
  });

  it('finds nothing wrong with a single end', () => {
    assert.deepEqual(validate(flow([end()])), []);
  });
});

describe('validateFlow: shape', () => {
  const question = (input: unknown): unknown => ({
    start: 'ask',
    nodes: [{ id: 'ask', type: 'question', text: 'Which?', variable: 'choice', input, next: 'end' }, end()],
  });

  it('names the node of a choice with four reply buttons, without the ajv echo', () => {
    const options = [1, 2, 3, 4].map((i) => ({ id: `o${i}`, title: `Option ${i}` }));
    assert.deepEqual(validate(question({ kind: 'choice', style: 'buttons', options })), [
      { path: '/nodes/0/input/options', message: 'must NOT have more than 3 items', nodeId: 'ask' },
    ]);
  });

  it('names an unknown property', () => {
    assert.deepEqual(
      validate({ start: 'a', nodes: [{ id: 'a', type: 'text', text: 'Hi', colour: 'red' }] }),
      [{ path: '/nodes/0/colour', message: 'must NOT have unevaluated properties', nodeId: 'a' }],
    );
  });

  it('names a missing text', () => {
    assert.deepEqual(validate({ start: 'a', nodes: [end('a'), { id: 'b', type: 'text' }] }), [
      { path: '/nodes/1/text', message: "must have required property 'text'", nodeId: 'b' },
    ]);
  });

  it('reports every node with a problem', () => {
    const issues = validate({
      start: 'a',
      nodes: [
        { id: 'a', type: 'text', next: 'b' },
        { id: 'b', type: 'media', media: { kind: 'gif', url: 'https://x.example.com/a.gif' } },
      ],
    });
    assert.deepEqual(
      issues.map(({ path, nodeId }) => [path, nodeId]),
      [
        ['/nodes/0/text', 'a'],
        ['/nodes/1/media/kind', 'b'],
      ],
    );
    assert.ok(
      issues.every((issue) => !/then|unevaluated/.test(issue.message)),
      JSON.stringify(issues),
    );
  });

  it('reports options on a question that is not a choice', () => {
    const issues = validate(question({ kind: 'text', options: [{ id: 'a', title: 'A' }] }));
    assert.deepEqual(
      issues.map(({ path, nodeId }) => [path, nodeId]),
      [['/nodes/0/input/options', 'ask']],
    );
  });

  it('reports an unknown property alongside another problem of its node', () => {
    assert.deepEqual(
      validate({ start: 'a', nodes: [{ id: 'a', type: 'text', colour: 'red' }] }).map((issue) => issue.path),
      ['/nodes/0/text', '/nodes/0/colour'],
    );
  });

  it('accepts an unstyled choice whose titles are too long for buttons (it is sent as a list)', () => {
    const options = [{ id: 'a', title: 'A title of 22 letters' }];
    assert.deepEqual(validate(question({ kind: 'choice', options })), []);
  });

  it('reports a problem outside the nodes without a node id', () => {
    assert.deepEqual(validate({ start: 'a', nodes: [end('a')], extra: true }), [
      { path: '/extra', message: 'must NOT have additional properties' },
    ]);
  });

  it('checks the graph only once the shape is right', () => {
    assert.deepEqual(
      validate({ start: 'nowhere', nodes: [{ id: 'a', type: 'text', text: '', next: 'ghost' }] }).map(
        (issue) => issue.path,
      ),
      ['/nodes/0/text'],
    );
  });
});

describe('validateFlow: ids and targets', () => {
  it('reports a duplicate id where the second one is', () => {
    assert.deepEqual(validate(flow([say('a', 'one', 'b'), end('b'), end('a')])), [
      { path: '/nodes/2/id', nodeId: 'a', message: "duplicate node id 'a'" },
    ]);
  });

  it('reports a start that is not a node', () => {
    const issues = validate({ start: 'nowhere', nodes: [end('a')] });
    assert.deepEqual(issues[0], { path: '/start', message: "start 'nowhere' is not a node" });
  });

  it('reports only the start when it names no node, not every node as unreachable', () => {
    assert.deepEqual(validate({ start: 'nowhere', nodes: [say('a', 'Hi', 'b'), end('b')] }), [
      { path: '/start', message: "start 'nowhere' is not a node" },
    ]);
  });

  it('reports a choice whose options share an id', () => {
    const options = [
      { id: 'x', title: 'X', next: 'end' },
      { id: 'x', title: 'Y', next: 'end' },
    ];
    const nodes: FlowNode[] = [
      { id: 'a', type: 'question', text: 'Which?', variable: 'v', input: { kind: 'choice', options } },
      end(),
    ];
    assert.deepEqual(
      validate(flow(nodes)).map(({ path, nodeId }) => [path, nodeId]),
      [['/nodes/0/input/options/1/id', 'a']],
    );
  });

  const targets: [string, FlowNode[], string][] = [
    ['next', [say('a', 'Hi', 'ghost')], '/nodes/0/next'],
    [
      'onInvalid',
      [
        {
          id: 'a',
          type: 'question',
          text: 'Age?',
          variable: 'age',
          input: { kind: 'number' },
          onInvalid: 'ghost',
          next: 'end',
        },
        end(),
      ],
      '/nodes/0/onInvalid',
    ],
    [
      'timeout.next',
      [
        {
          id: 'a',
          type: 'question',
          text: 'Age?',
          variable: 'age',
          input: { kind: 'number' },
          timeout: { seconds: 60, next: 'ghost' },
          next: 'end',
        },
        end(),
      ],
      '/nodes/0/timeout/next',
    ],
    [
      'an option’s next',
      [
        {
          id: 'a',
          type: 'question',
          text: 'Size?',
          variable: 'size',
          input: {
            kind: 'choice',
            options: [
              { id: 's', title: 'S', next: 'end' },
              { id: 'l', title: 'L', next: 'ghost' },
            ],
          },
        },
        end(),
      ],
      '/nodes/0/input/options/1/next',
    ],
    [
      'a branch’s next',
      [
        {
          id: 'a',
          type: 'condition',
          branches: [
            { when: 'true', next: 'end' },
            { when: 'false', next: 'ghost' },
          ],
          else: 'end',
        },
        end(),
      ],
      '/nodes/0/branches/1/next',
    ],
    [
      'else',
      [{ id: 'a', type: 'condition', branches: [{ when: 'true', next: 'end' }], else: 'ghost' }, end()],
      '/nodes/0/else',
    ],
    [
      'onError',
      [
        {
          id: 'a',
          type: 'api_call',
          request: { method: 'GET', url: 'https://x.example.com' },
          next: 'end',
          onError: 'ghost',
        },
        end(),
      ],
      '/nodes/0/onError',
    ],
  ];
  for (const [name, nodes, path] of targets) {
    it(`reports ${name} naming no node`, () => {
      assert.deepEqual(validate(flow(nodes)), [{ path, nodeId: 'a', message: unknownTarget('ghost') }]);
    });
  }
});

describe('validateFlow: branches left unconnected', () => {
  it('reports a condition branch without next', () => {
    const nodes: FlowNode[] = [
      {
        id: 'a',
        type: 'condition',
        branches: [{ when: 'true', next: 'end' }, { when: 'false' }],
        else: 'end',
      },
      end(),
    ];
    assert.deepEqual(validate(flow(nodes)), [
      { path: '/nodes/0/branches/1/next', nodeId: 'a', message: unconnected },
    ]);
  });

  it('reports a condition without else', () => {
    const nodes: FlowNode[] = [
      { id: 'a', type: 'condition', branches: [{ when: 'true', next: 'end' }] },
      end(),
    ];
    assert.deepEqual(validate(flow(nodes)), [{ path: '/nodes/0/else', nodeId: 'a', message: unconnected }]);
  });

  it('reports an api_call without onError', () => {
    const nodes: FlowNode[] = [
      { id: 'a', type: 'api_call', request: { method: 'GET', url: 'https://x.example.com' }, next: 'end' },
      end(),
    ];
    assert.deepEqual(validate(flow(nodes)), [
      { path: '/nodes/0/onError', nodeId: 'a', message: unconnected },
    ]);
  });

  it('reports choice options without next when the question has none', () => {
    const options = [
      { id: 's', title: 'S', next: 'end' },
      { id: 'm', title: 'M' },
      { id: 'l', title: 'L' },
    ];
    const nodes: FlowNode[] = [
      { id: 'a', type: 'question', text: 'Size?', variable: 'size', input: { kind: 'choice', options } },
      end(),
    ];
    assert.deepEqual(validate(flow(nodes)), [
      { path: '/nodes/0/input/options/1/next', nodeId: 'a', message: unconnected },
      { path: '/nodes/0/input/options/2/next', nodeId: 'a', message: unconnected },
    ]);
  });

  it('accepts choice options without next when the question has one', () => {
    const nodes: FlowNode[] = [
      {
        id: 'a',
        type: 'question',
        text: 'Size?',
        variable: 'size',
        input: { kind: 'choice', options: [{ id: 's', title: 'S' }] },
        next: 'end',
      },
      end(),
    ];
    assert.deepEqual(validate(flow(nodes)), []);
  });
});

describe('validateFlow: reachability', () => {
  it('reports a node nothing leads to', () => {
    assert.deepEqual(validate(flow([say('a', 'Hi', 'end'), say('lost', 'Lost', 'end'), end()])), [
      { path: '/nodes/1', nodeId: 'lost', message: "node 'lost' is unreachable from the start" },
    ]);
  });

  it('follows every kind of edge', () => {
    const nodes: FlowNode[] = [
      {
        id: 'ask',
        type: 'question',
        text: 'Size?',
        variable: 'size',
        input: { kind: 'choice', options: [{ id: 's', title: 'S', next: 'byOption' }] },
        onInvalid: 'byInvalid',
        timeout: { seconds: 60, next: 'byTimeout' },
        next: 'check',
      },
      end('byOption'),
      end('byInvalid'),
      end('byTimeout'),
      { id: 'check', type: 'condition', branches: [{ when: 'true', next: 'call' }], else: 'byElse' },
      end('byElse'),
      {
        id: 'call',
        type: 'api_call',
        request: { method: 'GET', url: 'https://x.example.com' },
        next: 'byNext',
        onError: 'byError',
      },
      end('byNext'),
      end('byError'),
    ];
    assert.deepEqual(validate(flow(nodes)), []);
  });
});

describe('validateFlow: variables', () => {
  it('reports an unknown variable in a text', () => {
    assert.deepEqual(validate(flow([say('a', 'Hi {{contact.name}} {{nickname}}')])), [
      { path: '/nodes/0/text', nodeId: 'a', message: unknownInText('nickname') },
    ]);
  });

  it('reports unknown variables in media, question and handoff texts', () => {
    const nodes: FlowNode[] = [
      {
        id: 'm',
        type: 'media',
        media: { kind: 'document', url: 'https://x.example.com/{{u}}', caption: '{{c}}', filename: '{{f}}' },
        next: 'q',
      },
      {
        id: 'q',
        type: 'question',
        text: '{{q}}?',
        variable: 'v',
        input: { kind: 'text' },
        retry: { text: '{{r}}!', max: 1 },
        next: 'h',
      },
      { id: 'h', type: 'handoff', text: '{{h}}' },
    ];
    assert.deepEqual(
      validate(flow(nodes)).map(({ path, nodeId }) => [path, nodeId]),
      [
        ['/nodes/0/media/url', 'm'],
        ['/nodes/0/media/caption', 'm'],
        ['/nodes/0/media/filename', 'm'],
        ['/nodes/1/text', 'q'],
        ['/nodes/1/retry/text', 'q'],
        ['/nodes/2/text', 'h'],
      ],
    );
  });

  const calling = (request: Partial<Extract<FlowNode, { type: 'api_call' }>['request']>): FlowDefinition =>
    flow([
      {
        id: 'call',
        type: 'api_call',
        request: { method: 'POST', url: 'https://x.example.com', ...request },
        next: 'end',
        onError: 'end',
      },
      end(),
    ]);

  it('reports an unknown variable in a request url and header', () => {
    assert.deepEqual(
      validate(calling({ url: 'https://x.example.com/{{path}}', headers: { 'X-Key': '{{key}}' } })),
      [
        { path: '/nodes/0/request/url', nodeId: 'call', message: unknownInText('path') },
        { path: '/nodes/0/request/headers/X-Key', nodeId: 'call', message: unknownInText('key') },
      ],
    );
  });

  it('reports an unknown variable in a JSON body string, wherever it is nested', () => {
    const body = { customer: { name: '{{who}}', 'a/b': '{{slash}}' }, items: [1, '{{item}}'], count: 2 };
    assert.deepEqual(
      validate(calling({ body })).map(({ path, message }) => [path, message]),
      [
        ['/nodes/0/request/body/customer/name', unknownInText('who')],
        ['/nodes/0/request/body/customer/a~1b', unknownInText('slash')],
        ['/nodes/0/request/body/items/1', unknownInText('item')],
      ],
    );
  });

  it('reports an unknown variable in a string body', () => {
    assert.deepEqual(validate(calling({ body: 'q={{query}}' })), [
      { path: '/nodes/0/request/body', nodeId: 'call', message: unknownInText('query') },
    ]);
  });

  it('reports an unknown variable in a condition expression', () => {
    const nodes: FlowNode[] = [
      {
        id: 'check',
        type: 'condition',
        branches: [
          { when: 'business.open', next: 'end' },
          { when: "score > 3 and contact.plan == 'gold'", next: 'end' },
        ],
        else: 'end',
      },
      end(),
    ];
    assert.deepEqual(validate(flow(nodes)), [
      { path: '/nodes/0/branches/1/when', nodeId: 'check', message: unknownInExpression('score') },
    ]);
  });

  it('reports an unknown variable in an assignment expression', () => {
    const nodes: FlowNode[] = [
      { id: 'set', type: 'assignment', set: { expensive: 'price > 100', ok: 'true' } },
    ];
    assert.deepEqual(
      validate(flow(nodes)).map(({ path, nodeId }) => [path, nodeId]),
      [['/nodes/0/set/expensive', 'set']],
    );
  });

  it('knows declared variables, question variables, assignment and map targets, and builtins', () => {
    const nodes: FlowNode[] = [
      {
        id: 'ask',
        type: 'question',
        text: '{{declared}}?',
        variable: 'asked',
        input: { kind: 'text' },
        next: 'set',
      },
      { id: 'set', type: 'assignment', set: { assigned: 'asked' }, next: 'call' },
      {
        id: 'call',
        type: 'api_call',
        request: { method: 'GET', url: 'https://x.example.com/{{assigned}}' },
        map: { mapped: '/value' },
        next: 'check',
        onError: 'end',
      },
      {
        id: 'check',
        type: 'condition',
        branches: [
          {
            when: "mapped == asked and assigned != declared and api.status == 200 and api.error == '' and business.open and contact.tier == 'x'",
            next: 'show',
          },
        ],
        else: 'end',
      },
      say(
        'show',
        '{{declared}} {{asked}} {{assigned}} {{mapped}} {{contact.name}} {{contact.waId}} {{contact.city}} {{message.text}} {{business.open}} {{api.status}}',
        'end',
      ),
      end(),
    ];
    assert.deepEqual(validate(flow(nodes, { variables: ['declared'] })), []);
  });

  it('knows a variable set anywhere in the flow, even after it is read', () => {
    const nodes: FlowNode[] = [
      say('show', 'Hi {{later}}', 'set'),
      { id: 'set', type: 'assignment', set: { later: "'x'" } },
    ];
    assert.deepEqual(validate(flow(nodes)), []);
  });
});

describe('validateFlow: expressions and jumps', () => {
  const parserMessage = (source: string): string => {
    try {
      parseExpression(source);
    } catch (error) {
      if (error instanceof ExpressionError) return error.message;
      throw error;
    }
    throw new Error(`'${source}' parses`);
  };

  it('reports an expression that does not parse, with the parser’s message', () => {
    const when = "plan == 'gold' and";
    const nodes: FlowNode[] = [
      {
        id: 'check',
        type: 'condition',
        branches: [
          { when: 'true', next: 'end' },
          { when, next: 'end' },
        ],
        else: 'end',
      },
      end(),
    ];
    assert.deepEqual(validate(flow(nodes, { variables: ['plan'] })), [
      {
        path: '/nodes/0/branches/1/when',
        nodeId: 'check',
        message: `invalid expression: ${parserMessage(when)}`,
      },
    ]);
  });

  it('reports an assignment that calls a function', () => {
    const issues = validate(flow([{ id: 'set', type: 'assignment', set: { x: 'now()' } }]));
    assert.deepEqual(
      issues.map(({ path, nodeId }) => [path, nodeId]),
      [['/nodes/0/set/x', 'set']],
    );
    assert.match(issues[0]?.message ?? '', /^invalid expression: /);
  });

  it('reports a jump to a flow that does not exist', () => {
    assert.deepEqual(validate(flow([{ id: 'jump', type: 'jump_to_flow', flowId: deletedFlow }])), [
      { path: '/nodes/0/flowId', nodeId: 'jump', message: `no flow ${deletedFlow} in this organization` },
    ]);
  });

  it('accepts a jump to a flow of the organization', () => {
    assert.deepEqual(validate(flow([{ id: 'jump', type: 'jump_to_flow', flowId: salesFlow }])), []);
  });

  it('reports a handoff to a queue or a user the organization does not have', () => {
    const known = deterministicId('test/queue/known');
    const gone = deterministicId('test/queue/gone');
    const nobody = deterministicId('test/user/nobody');
    const issues = validateFlow(
      flow([
        { id: 'ok', type: 'handoff', queueId: known },
        { id: 'bad', type: 'handoff', queueId: gone, assigneeId: nobody },
      ]),
      {
        registry,
        flowExists: () => true,
        queueExists: (id) => id === known,
        userExists: () => false,
      },
    );
    assert.deepEqual(
      issues.filter((issue) => !issue.message.includes('unreachable')),
      [
        { path: '/nodes/1/queueId', nodeId: 'bad', message: `no queue ${gone} in this organization` },
        { path: '/nodes/1/assigneeId', nodeId: 'bad', message: `no user ${nobody} in this organization` },
      ],
    );
  });
});
