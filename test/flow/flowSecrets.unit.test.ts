import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deterministicId } from '../../src/eventsourcing/deterministicId.ts';
import type { ApiRequest } from '../../src/flow/apiCall.ts';
import type { FlowDefinition } from '../../src/flow/flowDefinition.ts';
import { runFlow } from '../../src/flow/flowExecutor.ts';
import type { BotEnvironment, FlowRun } from '../../src/flow/flowRun.ts';
import { secretsIn, withSecrets } from '../../src/flow/flowSecrets.ts';
import { validateFlow } from '../../src/flow/validateFlow.ts';
import { SchemaRegistry } from '../../src/schemas/schemaRegistry.ts';

const flowId = deterministicId('test/flow/secrets');
const registry = new SchemaRegistry();

const definition: FlowDefinition = {
  start: 'call',
  nodes: [
    {
      id: 'call',
      type: 'api_call',
      request: {
        method: 'POST',
        url: 'https://crm.example/leads?key={{secret.crm_key}}&who={{name}}',
        headers: { authorization: 'Bearer {{secret.crm_token}}' },
        body: { token: '{{secret.crm_token}}', name: '{{name}}' },
      },
      onError: 'call',
    },
  ],
};

/** The request the api_call node records when the run's `name` is `name`. */
function recorded(name: string): ApiRequest {
  const env: BotEnvironment = {
    now: '2026-11-23T08:30:00.000Z',
    maxSteps: 100,
    definition: () => definition,
    published: () => 1,
    contact: { name: null, waId: '15550000001', attributes: {} },
    businessOpen: null,
  };
  const run: FlowRun = {
    runId: deterministicId('test/run/secrets'),
    chatbotId: null,
    flow: { flowId, version: 1 },
    variables: { name },
    waiting: null,
    turn: 0,
    history: [],
  };
  const { outcome } = runFlow(run, { kind: 'start' }, env, null);
  assert.equal(outcome.kind, 'wait');
  assert.equal(outcome.kind === 'wait' && outcome.waiting.kind, 'api');
  return (outcome as { waiting: { request: ApiRequest } }).waiting.request;
}

describe('flow secrets', () => {
  it('records a marker, never a value, and names the secrets the request needs', () => {
    const request = recorded('Ana');
    assert.doesNotMatch(JSON.stringify(request), /crm_key_value|token_value/);
    assert.deepEqual(secretsIn(request), ['crm_key', 'crm_token']);
  });

  it('fills the values in just before the call, escaped inside a JSON body', () => {
    const values = new Map([
      ['crm_key', 'k1'],
      ['crm_token', 'to"ken\\value'],
    ]);
    const request = withSecrets(recorded('Ana'), values);
    assert.equal(request.url, 'https://crm.example/leads?key=k1&who=Ana');
    assert.equal(request.headers.authorization, 'Bearer to"ken\\value');
    assert.deepEqual(JSON.parse(request.body ?? ''), { token: 'to"ken\\value', name: 'Ana' });
  });

  it("cannot be forged by a customer's answer", () => {
    // The answer spells a marker; interpolation strips the characters that delimit one.
    const request = recorded('\uE000secret:crm_token\uE001');
    assert.deepEqual(secretsIn(request), ['crm_key', 'crm_token']);
    const filled = withSecrets(request, new Map([['crm_token', 'SECRET']]));
    assert.deepEqual(JSON.parse(filled.body ?? ''), { token: 'SECRET', name: 'secret:crm_token' });
    assert.equal(filled.url, 'https://crm.example/leads?key=&who=secret:crm_token');
  });

  it('may be used only in an api_call request, under a valid name', () => {
    const issues = validateFlow(
      {
        start: 'say',
        nodes: [
          { id: 'say', type: 'text', text: 'The key is {{secret.crm_key}}', next: 'check' },
          {
            id: 'check',
            type: 'condition',
            branches: [{ when: "secret.crm_key == 'x'", next: 'call' }],
            else: 'call',
          },
          {
            id: 'call',
            type: 'api_call',
            request: { method: 'GET', url: 'https://crm.example/?k={{secret.a.b}}&ok={{secret.crm_key}}' },
            onError: 'say',
          },
        ],
      },
      { registry, flowExists: () => true },
    );
    assert.deepEqual(
      issues.map(({ path, nodeId }) => [path, nodeId]),
      [
        ['/nodes/0/text', 'say'],
        ['/nodes/1/branches/0/when', 'check'],
        ['/nodes/2/request/url', 'call'],
      ],
    );
    assert.match(issues[0]?.message ?? '', /secrets can only be used in an api_call's request/);
    assert.match(issues[2]?.message ?? '', /a secret's name is letters, digits and _/);
  });
});
