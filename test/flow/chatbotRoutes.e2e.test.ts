import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { FlowDefinition } from '../../src/flow/flowDefinition.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { ok } from '../support/schemaResponse.ts';
import { orgWithChannel, type TestChannel } from '../support/whatsapp.ts';

const definition: FlowDefinition = {
  start: 'hello',
  nodes: [
    { id: 'hello', type: 'text', text: 'Hello', next: 'bye' },
    { id: 'bye', type: 'end' },
  ],
};

const hours = {
  timezone: 'America/Sao_Paulo',
  weekly: [
    { day: 'mon', from: '09:00', to: '18:00' },
    { day: 'sat', from: '10:00', to: '24:00' },
  ],
};

describe('chatbots over HTTP', { timeout: 120_000 }, () => {
  let t: TestApp;
  let org: TestChannel;
  let other: TestChannel;
  let flowId: string;
  let closedFlowId: string;
  let draftFlowId: string;
  let secondChannelId: string;
  before(async () => {
    t = await startTestApp('chatbot_routes');
    org = await orgWithChannel(t, 'bots');
    other = await orgWithChannel(t, 'stranger');
    const flow = async (name: string, publish: boolean) => {
      const created = await call('POST', '/flows', { name, definition });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      if (publish) assert.equal((await call('POST', `/flows/${created.body.id}/publish`)).status, 200);
      return created.body.id as string;
    };
    flowId = await flow('Main', true);
    closedFlowId = await flow('Closed', true);
    draftFlowId = await flow('Draft', false);
    const channel = await call('POST', '/channels', {
      name: 'Second line',
      phoneNumberId: String(Date.now()),
      displayPhoneNumber: '+1 555 0101',
      wabaId: '1',
      accessToken: 'token',
    });
    assert.equal(channel.status, 201);
    secondChannelId = channel.body.id;
  });
  after(async () => {
    await t?.close();
  });

  const call = (method: string, path: string, body?: unknown, token = org.accessToken) =>
    t.request(method, `/api/v1${path}`, { token, ...(body === undefined ? {} : { body }) });
  const valid = () => ({
    name: 'Welcome bot',
    channelId: org.channelId,
    flowId,
    triggers: [{ type: 'keyword', value: 'menu', match: 'contains' }, { type: 'default' }],
  });

  it('creates a chatbot, enabled and always open by default, and reads it back', async () => {
    const created = ok(await call('POST', '/chatbots', valid()), 'api/chatbot', 201);
    assert.deepEqual(
      { ...created, id: undefined, createdAt: undefined, updatedAt: undefined },
      {
        ...valid(),
        id: undefined,
        businessHours: null,
        enabled: true,
        createdAt: undefined,
        updatedAt: undefined,
      },
    );
    assert.deepEqual(ok(await call('GET', `/chatbots/${created.id}`), 'api/chatbot'), created);
    const withHours = ok(
      await call('POST', '/chatbots', {
        ...valid(),
        channelId: secondChannelId,
        businessHours: { ...hours, closedFlowId },
        enabled: false,
      }),
      'api/chatbot',
      201,
    );
    assert.deepEqual(withHours.businessHours, { ...hours, closedFlowId });
    assert.equal(withHours.enabled, false);
  });

  it('patches any subset and lists by channel, oldest first', async () => {
    const first = ok(await call('POST', '/chatbots', { ...valid(), name: 'First' }), 'api/chatbot', 201);
    const elsewhere = ok(
      await call('POST', '/chatbots', { ...valid(), name: 'Elsewhere', channelId: secondChannelId }),
      'api/chatbot',
      201,
    );
    const patched = ok(
      await call('PATCH', `/chatbots/${first.id}`, {
        name: 'Renamed',
        triggers: [{ type: 'keyword', value: '^(oi|olá)$', match: 'regex' }],
        businessHours: hours,
      }),
      'api/chatbot',
    );
    assert.equal(patched.name, 'Renamed');
    assert.equal(patched.flowId, flowId, 'absent fields are unchanged');
    assert.equal(patched.enabled, true);
    assert.deepEqual(patched.triggers, [{ type: 'keyword', value: '^(oi|olá)$', match: 'regex' }]);
    assert.deepEqual(patched.businessHours, hours);
    assert.equal(patched.createdAt, first.createdAt);
    const again = ok(
      await call('PATCH', `/chatbots/${first.id}`, {
        businessHours: null,
        enabled: false,
        flowId: closedFlowId,
      }),
      'api/chatbot',
    );
    assert.equal(again.businessHours, null);
    assert.equal(again.enabled, false);
    assert.equal(again.flowId, closedFlowId);
    assert.equal(again.name, 'Renamed');
    assert.deepEqual(ok(await call('GET', `/chatbots/${first.id}`), 'api/chatbot'), again);

    const all = ok(await call('GET', '/chatbots'), 'api/chatbotList').items.map(
      (bot: { id: string }) => bot.id,
    );
    assert.ok(all.includes(first.id) && all.includes(elsewhere.id));
    assert.ok(all.indexOf(first.id) < all.indexOf(elsewhere.id), 'oldest first');
    const onSecond = ok(await call('GET', `/chatbots?channelId=${secondChannelId}`), 'api/chatbotList').items;
    assert.ok(onSecond.every((bot: { channelId: string }) => bot.channelId === secondChannelId));
    assert.ok(onSecond.some((bot: { id: string }) => bot.id === elsewhere.id));
    assert.ok(!onSecond.some((bot: { id: string }) => bot.id === first.id));
    assert.deepEqual(
      ok(await call('GET', `/chatbots?channelId=${randomUUID()}`), 'api/chatbotList').items,
      [],
    );
    assert.equal((await call('GET', '/chatbots?channelId=nope')).status, 400);
  });

  it('refuses numbers and flows that are not the organization’s, or not published', async () => {
    const before = ok(await call('GET', '/chatbots'), 'api/chatbotList').items.length;
    const theirFlow = ok(
      await call('POST', '/flows', { name: 'Theirs', definition }, other.accessToken),
      'api/flowSaved',
      201,
    ).id;
    assert.equal(
      (await call('POST', `/flows/${theirFlow}/publish`, undefined, other.accessToken)).status,
      200,
    );
    const cases: [unknown, string, string[]][] = [
      [{ ...valid(), channelId: randomUUID() }, 'identity.invalid_reference', ['/channelId']],
      [{ ...valid(), channelId: other.channelId }, 'identity.invalid_reference', ['/channelId']],
      [{ ...valid(), flowId: randomUUID() }, 'identity.invalid_reference', ['/flowId']],
      [{ ...valid(), flowId: theirFlow }, 'identity.invalid_reference', ['/flowId']],
      [
        { ...valid(), businessHours: { ...hours, closedFlowId: randomUUID() } },
        'identity.invalid_reference',
        ['/businessHours/closedFlowId'],
      ],
      [{ ...valid(), flowId: draftFlowId }, 'flow.not_published', ['/flowId']],
      [
        { ...valid(), businessHours: { ...hours, closedFlowId: draftFlowId } },
        'flow.not_published',
        ['/businessHours/closedFlowId'],
      ],
      [
        { ...valid(), triggers: [{ type: 'keyword', value: '(unclosed', match: 'regex' }] },
        'http.validation_failed',
        ['/triggers/0/value'],
      ],
      [
        { ...valid(), businessHours: { ...hours, timezone: 'Mars/Olympus_Mons' } },
        'http.validation_failed',
        ['/businessHours/timezone'],
      ],
      [
        { ...valid(), businessHours: { ...hours, weekly: [{ day: 'mon', from: '18:00', to: '09:00' }] } },
        'http.validation_failed',
        ['/businessHours/weekly/0/to'],
      ],
      [
        { ...valid(), businessHours: { ...hours, weekly: [{ day: 'mon', from: '9:00', to: '18:00' }] } },
        'http.validation_failed',
        ['/businessHours/weekly/0/from'],
      ],
      [{ ...valid(), triggers: [] }, 'http.validation_failed', ['/triggers']],
      [
        { ...valid(), triggers: [{ type: 'default' }, { type: 'default' }] },
        'http.validation_failed',
        ['/triggers'],
      ],
      [
        { ...valid(), triggers: [{ type: 'keyword', value: 'x'.repeat(201) }] },
        'http.validation_failed',
        ['/triggers/0/value'],
      ],
      [{ ...valid(), channelId: 'not-a-uuid' }, 'http.validation_failed', ['/channelId']],
    ];
    for (const [body, code, paths] of cases) {
      const response = await call('POST', '/chatbots', body);
      assert.equal(response.status, 422, `${JSON.stringify(body)}: ${JSON.stringify(response.body)}`);
      assert.equal(response.body.code, code, JSON.stringify(response.body));
      for (const path of paths) {
        assert.ok(
          response.body.errors.some((error: { path: string }) => error.path === path),
          `${path} in ${JSON.stringify(response.body.errors)}`,
        );
      }
    }
    assert.equal(
      ok(await call('GET', '/chatbots'), 'api/chatbotList').items.length,
      before,
      'nothing created',
    );

    // The same checks on PATCH, and nothing changes.
    const bot = ok(await call('POST', '/chatbots', valid()), 'api/chatbot', 201);
    for (const [body, code] of [
      [{ flowId: draftFlowId }, 'flow.not_published'],
      [{ flowId: theirFlow }, 'identity.invalid_reference'],
      [{ triggers: [{ type: 'keyword', value: '[', match: 'regex' }] }, 'http.validation_failed'],
      [{ businessHours: { ...hours, timezone: 'Nowhere/Land' } }, 'http.validation_failed'],
      [{ channelId: secondChannelId }, 'http.validation_failed'],
      [{}, 'http.validation_failed'],
    ] as [unknown, string][]) {
      const response = await call('PATCH', `/chatbots/${bot.id}`, body);
      assert.equal(response.status, 422, JSON.stringify(body));
      assert.equal(response.body.code, code);
    }
    assert.deepEqual(ok(await call('GET', `/chatbots/${bot.id}`), 'api/chatbot'), bot);
    assert.equal((await call('PATCH', `/chatbots/${randomUUID()}`, { enabled: false })).status, 404);
    assert.equal((await call('GET', `/chatbots/${randomUUID()}`)).status, 404);
    assert.equal((await call('GET', '/chatbots/not-a-uuid')).status, 404);
  });
});
