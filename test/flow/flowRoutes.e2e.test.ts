import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { FlowDefinition } from '../../src/flow/flowDefinition.ts';
import { SchemaRegistry } from '../../src/schemas/schemaRegistry.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { ok } from '../support/schemaResponse.ts';
import { orgWithChannel, type TestChannel } from '../support/whatsapp.ts';

const password = 'correct horse battery staple';
const registry = new SchemaRegistry();

const greeting = (text = 'Hello {{contact.name}}'): FlowDefinition => ({
  start: 'hello',
  nodes: [
    { id: 'hello', type: 'text', text, next: 'bye', position: { x: 0, y: 0 } },
    { id: 'bye', type: 'end' },
  ],
});

describe('flows over HTTP', { timeout: 120_000 }, () => {
  let t: TestApp;
  let org: TestChannel;
  let other: TestChannel;
  before(async () => {
    t = await startTestApp('flow_routes');
    org = await orgWithChannel(t, 'flows');
    other = await orgWithChannel(t, 'stranger');
  });
  after(async () => {
    await t?.close();
  });

  const call = (method: string, path: string, body?: unknown, token = org.accessToken) =>
    t.request(method, `/api/v1${path}`, { token, ...(body === undefined ? {} : { body }) });
  const create = async (name = 'Welcome', definition = greeting()) =>
    ok(await call('POST', '/flows', { name, definition }), 'api/flowSaved', 201).id as string;

  it('creates a flow as version 1, reads it back and lists it', async () => {
    const created = ok(
      await call('POST', '/flows', { name: 'Welcome', definition: greeting() }),
      'api/flowSaved',
      201,
    );
    assert.equal(created.version, 1);
    const flow = ok(await call('GET', `/flows/${created.id}`), 'api/flow');
    assert.equal(flow.id, created.id);
    assert.equal(flow.name, 'Welcome');
    assert.equal(flow.version, 1);
    assert.equal(flow.latestVersion, 1);
    assert.equal(flow.publishedVersion, null);
    assert.deepEqual(flow.definition, greeting());
    const list = ok(await call('GET', '/flows'), 'api/flowList');
    const item = list.items.find((entry: { id: string }) => entry.id === created.id);
    assert.deepEqual(item, {
      id: created.id,
      name: 'Welcome',
      latestVersion: 1,
      publishedVersion: null,
      updatedAt: flow.updatedAt,
    });
    // An upper-case id names the same flow.
    assert.equal((await call('GET', `/flows/${created.id.toUpperCase()}`)).status, 200);
  });

  it('saves new versions while earlier ones stay readable, and publishing freezes one', async () => {
    const id = await create('Support');
    const second = ok(
      await call('PUT', `/flows/${id}`, { name: 'Support v2', definition: greeting('Second') }),
      'api/flowSaved',
    );
    assert.deepEqual(second, { id, version: 2 });
    const first = ok(await call('GET', `/flows/${id}?version=1`), 'api/flow');
    assert.equal(first.name, 'Support');
    assert.deepEqual(first.definition, greeting());
    assert.equal(first.latestVersion, 2);
    const latest = ok(await call('GET', `/flows/${id}`), 'api/flow');
    assert.equal(latest.version, 2);
    assert.equal(latest.name, 'Support v2');

    assert.deepEqual(ok(await call('POST', `/flows/${id}/publish`), 'api/flowPublished'), {
      id,
      publishedVersion: 2,
    });
    // Republishing the published version changes nothing.
    assert.deepEqual(ok(await call('POST', `/flows/${id}/publish`, { version: 2 }), 'api/flowPublished'), {
      id,
      publishedVersion: 2,
    });
    // Without a name the flow keeps its name.
    const third = ok(await call('PUT', `/flows/${id}`, { definition: greeting('Third') }), 'api/flowSaved');
    assert.equal(third.version, 3);
    const after3 = ok(await call('GET', `/flows/${id}`), 'api/flow');
    assert.equal(after3.version, 3);
    assert.equal(after3.name, 'Support v2');
    assert.equal(after3.publishedVersion, 2);
    const frozen = ok(await call('GET', `/flows/${id}?version=2`), 'api/flow');
    assert.deepEqual(frozen.definition, greeting('Second'));
    assert.equal(frozen.publishedVersion, 2);
    const listed = ok(await call('GET', '/flows'), 'api/flowList').items.find(
      (entry: { id: string }) => entry.id === id,
    );
    assert.equal(listed.latestVersion, 3);
    assert.equal(listed.publishedVersion, 2);

    // An earlier version can be published again (a rollback); an unknown one cannot.
    assert.equal(
      ok(await call('POST', `/flows/${id}/publish`, { version: 1 }), 'api/flowPublished').publishedVersion,
      1,
    );
    const missing = await call('POST', `/flows/${id}/publish`, { version: 9 });
    assert.equal(missing.status, 422);
    assert.equal(missing.body.code, 'identity.invalid_reference');
    assert.deepEqual(
      missing.body.errors.map((error: { path: string }) => error.path),
      ['/version'],
    );
    assert.equal((await call('GET', `/flows/${id}?version=4`)).status, 404);
    assert.equal((await call('GET', `/flows/${id}?version=0`)).status, 400);
    assert.equal((await call('GET', `/flows/${id}?version=x`)).status, 400);
  });

  it('numbers concurrent saves one after another, never twice the same version', async () => {
    const id = await create('Busy');
    const saves = await Promise.all(
      Array.from({ length: 5 }, (_, i) => call('PUT', `/flows/${id}`, { definition: greeting(`Save ${i}`) })),
    );
    const versions = saves.map((save) => ok(save, 'api/flowSaved').version).sort();
    assert.deepEqual(versions, [2, 3, 4, 5, 6]);
  });

  it('refuses a definition whose graph does not hold, naming the node under /definition', async () => {
    const before = ok(await call('GET', '/flows'), 'api/flowList').items.length;
    const ghost = randomUUID();
    const definition = {
      start: 'hello',
      nodes: [
        { id: 'hello', type: 'text', text: 'Hi', next: 'jump' },
        { id: 'jump', type: 'jump_to_flow', flowId: ghost, next: 'nowhere' },
      ],
    };
    const refused = await call('POST', '/flows', { name: 'Broken', definition });
    assert.equal(refused.status, 422, JSON.stringify(refused.body));
    assert.equal(refused.body.code, 'flow.invalid_definition');
    assert.match(refused.headers.get('content-type') ?? '', /application\/problem\+json/);
    assert.deepEqual(registry.validate('http/problem', refused.body), []);
    const paths = refused.body.errors.map((error: { path: string }) => error.path);
    assert.ok(paths.includes('/definition/nodes/1/next'), JSON.stringify(refused.body.errors));
    assert.ok(paths.includes('/definition/nodes/1/flowId'), JSON.stringify(refused.body.errors));
    for (const error of refused.body.errors) assert.equal(error.nodeId, 'jump');
    assert.match(JSON.stringify(refused.body.errors), new RegExp(ghost));
    assert.equal(ok(await call('GET', '/flows'), 'api/flowList').items.length, before, 'nothing saved');

    // The same on PUT; the version does not move.
    const id = await create('Fine');
    const put = await call('PUT', `/flows/${id}`, { definition });
    assert.equal(put.status, 422);
    assert.equal(put.body.code, 'flow.invalid_definition');
    assert.equal(ok(await call('GET', `/flows/${id}`), 'api/flow').latestVersion, 1);
  });

  it('lets a flow jump to its own and to other flows of the organization only', async () => {
    const target = await create('Target');
    const jumping = (flowId: string): FlowDefinition => ({
      start: 'go',
      nodes: [{ id: 'go', type: 'jump_to_flow', flowId }],
    });
    const id = ok(
      await call('POST', '/flows', { name: 'Jumper', definition: jumping(target) }),
      'api/flowSaved',
      201,
    ).id;
    assert.equal(
      ok(await call('PUT', `/flows/${id}`, { definition: jumping(id) }), 'api/flowSaved').version,
      2,
    );
    assert.equal(
      ok(await call('PUT', `/flows/${id}`, { definition: jumping(target.toUpperCase()) }), 'api/flowSaved')
        .version,
      3,
    );
    // Another organization's flow is as unknown as a made-up id.
    const theirs = ok(
      await call('POST', '/flows', { name: 'Theirs', definition: greeting() }, other.accessToken),
      'api/flowSaved',
      201,
    ).id;
    const refused = await call('PUT', `/flows/${id}`, { definition: jumping(theirs) });
    assert.equal(refused.status, 422);
    assert.deepEqual(
      refused.body.errors.map((error: { path: string }) => error.path),
      ['/definition/nodes/0/flowId'],
    );
  });

  it('refuses bodies that do not match the schema', async () => {
    const id = await create('Schema');
    const cases: [string, string, unknown, string][] = [
      ['POST', '/flows', { name: 'No definition' }, '/definition'],
      ['POST', '/flows', { name: '', definition: greeting() }, '/name'],
      ['POST', '/flows', { name: 'x', definition: greeting(), extra: 1 }, '/extra'],
      ['POST', '/flows', { name: 'x', definition: 'not an object' }, '/definition'],
      ['PUT', `/flows/${id}`, { name: 'only a name' }, '/definition'],
      ['POST', `/flows/${id}/publish`, { version: 0 }, '/version'],
    ];
    for (const [method, path, body, at] of cases) {
      const response = await call(method, path, body);
      assert.equal(response.status, 422, `${method} ${path} ${JSON.stringify(body)}`);
      assert.equal(response.body.code, 'http.validation_failed');
      assert.ok(
        response.body.errors.some((error: { path: string }) => error.path === at),
        `${at} in ${JSON.stringify(response.body.errors)}`,
      );
    }
    assert.equal(ok(await call('GET', `/flows/${id}`), 'api/flow').latestVersion, 1);
    assert.equal(ok(await call('GET', `/flows/${id}`), 'api/flow').publishedVersion, null);
  });

  it("refuses a definition's shape like its graph: one flow.invalid_definition naming each node", async () => {
    const cases: [unknown, { path: string; nodeId?: string }[]][] = [
      [{ start: 'a', nodes: [] }, [{ path: '/definition/nodes' }]],
      [
        { start: 'a', nodes: [{ id: 'a', type: 'teleport' }] },
        [{ path: '/definition/nodes/0/type', nodeId: 'a' }],
      ],
      [
        { start: 'a', nodes: [{ id: 'a', type: 'text', colour: 'red' }] },
        [
          { path: '/definition/nodes/0/text', nodeId: 'a' },
          { path: '/definition/nodes/0/colour', nodeId: 'a' },
        ],
      ],
      [{ nodes: 'none' }, [{ path: '/definition/start' }, { path: '/definition/nodes' }]],
    ];
    for (const [definition, expected] of cases) {
      const response = await call('POST', '/flows', { name: 'Shapeless', definition });
      assert.equal(response.status, 422, JSON.stringify(definition));
      assert.equal(response.body.code, 'flow.invalid_definition');
      assert.deepEqual(
        response.body.errors.map(({ path, nodeId }: { path: string; nodeId?: string }) => ({
          path,
          ...(nodeId === undefined ? {} : { nodeId }),
        })),
        expected,
        JSON.stringify(response.body.errors),
      );
    }
  });

  it("hands off only to the organization's own queues and users", async () => {
    const queue = await call('POST', '/queues', { name: 'Sales', agentIds: [] });
    const theirs = await call('POST', '/queues', { name: 'Theirs', agentIds: [] }, other.accessToken);
    const handoff = (queueId: string, assigneeId: string) => ({
      start: 'human',
      nodes: [{ id: 'human', type: 'handoff', queueId, assigneeId }],
    });
    ok(
      await call('POST', '/flows', { name: 'Ours', definition: handoff(queue.body.id, org.userId) }),
      'api/flowSaved',
      201,
    );
    const refused = await call('POST', '/flows', {
      name: 'Theirs',
      definition: handoff(theirs.body.id, other.userId),
    });
    assert.equal(refused.status, 422);
    assert.equal(refused.body.code, 'flow.invalid_definition');
    assert.deepEqual(
      refused.body.errors.map(({ path, nodeId }: { path: string; nodeId: string }) => [path, nodeId]),
      [
        ['/definition/nodes/0/queueId', 'human'],
        ['/definition/nodes/0/assigneeId', 'human'],
      ],
    );
  });

  it("answers 404 for another organization's flows and chatbots, and lists none of them", async () => {
    const id = await create('Private');
    ok(await call('POST', `/flows/${id}/publish`), 'api/flowPublished');
    const chatbot = ok(
      await call('POST', '/chatbots', {
        name: 'Private bot',
        channelId: org.channelId,
        flowId: id,
        triggers: [{ type: 'default' }],
      }),
      'api/chatbot',
      201,
    );
    const asOther = (method: string, path: string, body?: unknown) =>
      call(method, path, body, other.accessToken);
    for (const [method, path, body] of [
      ['GET', `/flows/${id}`],
      ['GET', `/flows/${id}?version=1`],
      ['PUT', `/flows/${id}`, { definition: greeting() }],
      ['POST', `/flows/${id}/publish`],
      ['GET', `/chatbots/${chatbot.id}`],
      ['PATCH', `/chatbots/${chatbot.id}`, { enabled: false }],
    ] as [string, string, unknown?][]) {
      const response = await asOther(method, path, body);
      assert.equal(response.status, 404, `${method} ${path}: ${JSON.stringify(response.body)}`);
      assert.equal(response.body.code, 'http.not_found');
    }
    for (const path of ['/flows', '/chatbots', `/chatbots?channelId=${org.channelId}`]) {
      const seen = JSON.stringify((await asOther('GET', path)).body);
      assert.ok(
        !seen.includes(id) && !seen.includes(chatbot.id),
        `${path} shows nothing of the other organization`,
      );
    }
    // Untouched for its owner.
    const mine = ok(await call('GET', `/chatbots/${chatbot.id}`), 'api/chatbot');
    assert.equal(mine.enabled, true);
    assert.equal(ok(await call('GET', `/flows/${id}`), 'api/flow').latestVersion, 1);
    // Ids that are not UUIDs name nothing.
    assert.equal((await call('GET', '/flows/not-a-uuid')).status, 404);
    assert.equal((await call('PUT', '/flows/not-a-uuid', { definition: greeting() })).status, 404);
    assert.equal((await call('POST', '/flows/not-a-uuid/publish')).status, 404);
    assert.equal((await call('GET', `/flows/${randomUUID()}`)).status, 404);
    assert.equal((await call('POST', `/flows/${randomUUID()}/publish`)).status, 404);
  });

  it('needs flows.manage: agents and viewers get 403, no token 401', async () => {
    const id = await create('Guarded');
    const userWith = async (role: string) => {
      const email = `${role}-${randomUUID().slice(0, 8)}@example.com`;
      const created = await call('POST', '/users', { email, name: `A ${role}`, password, role });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const login = await t.request('POST', '/api/v1/auth/login', { body: { email, password } });
      return login.body.accessToken as string;
    };
    for (const token of [await userWith('agent'), await userWith('viewer')]) {
      for (const [method, path, body] of [
        ['GET', '/flows'],
        ['GET', `/flows/${id}`],
        ['POST', '/flows', { name: 'x', definition: greeting() }],
        ['PUT', `/flows/${id}`, { definition: greeting() }],
        ['POST', `/flows/${id}/publish`],
        ['GET', '/chatbots'],
        [
          'POST',
          '/chatbots',
          { name: 'x', channelId: org.channelId, flowId: id, triggers: [{ type: 'default' }] },
        ],
      ] as [string, string, unknown?][]) {
        const response = await call(method, path, body, token);
        assert.equal(response.status, 403, `${method} ${path}`);
        assert.equal(response.body.code, 'auth.forbidden');
      }
    }
    assert.equal((await t.request('GET', '/api/v1/flows')).status, 401);
    assert.equal(ok(await call('GET', `/flows/${id}`), 'api/flow').latestVersion, 1);
  });
});
