import assert from 'node:assert/strict';
import { randomInt, randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { conversationIdFor } from '../../src/conversation/conversationActor.ts';
import type { FlowDefinition } from '../../src/flow/flowDefinition.ts';
import type { MetaMessage } from '../../src/whatsapp/webhookPayload.ts';
import { TestSocket } from '../realtime/wsClient.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { bodyOf, type FakeGraphApi, startFakeGraphApi } from '../support/fakeGraphApi.ts';
import { textMessage, webhookBody } from '../support/metaWebhook.ts';
import {
  orgWithChannel,
  postWebhook,
  type StoredEvent,
  type TestChannel,
  typesOf,
  waitForEvents,
} from '../support/whatsapp.ts';

const secret = 'chatbot-flows-app-secret';

type Received = { method: string; url: string; headers: IncomingHttpHeaders; body: string };

/** A business's own HTTP API on 127.0.0.1, answering what `answer` says and keeping what it got. */
async function startCrm(answer: (request: Received) => { status: number; body: unknown }) {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      };
      received.push(request);
      const { status, body } = answer(request);
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('chatbot flows driven by signed webhooks', { timeout: 240_000 }, () => {
  let graph: FakeGraphApi;
  let crm: Awaited<ReturnType<typeof startCrm>>;
  let intranet: Awaited<ReturnType<typeof startCrm>>;
  let t: TestApp;

  before(async () => {
    graph = await startFakeGraphApi();
    crm = await startCrm((request) => {
      const lead = JSON.parse(request.body) as { email: string };
      return {
        status: 200,
        body: { lead: { score: lead.email.endsWith('@bigco.com') ? 90 : 10, tier: 'gold' } },
      };
    });
    // Only the CRM is allowed; this one, on the same loopback address, is not.
    intranet = await startCrm(() => ({ status: 200, body: { secret: 'internal' } }));
    t = await startTestApp('chatbot_flows', {
      META_APP_SECRET: secret,
      META_GRAPH_URL: graph.url,
      OUTBOUND_RETRY_BASE_MS: '20',
      FLOW_API_ALLOWED_HOSTS: `127.0.0.1:${crm.port}`,
    });
  });
  after(async () => {
    await t?.close();
    await Promise.all([graph?.close(), crm?.close(), intranet?.close()]);
  });

  const api = async (org: TestChannel, method: string, path: string, body?: unknown) => {
    const response = await t.request(method, `/api/v1${path}`, { token: org.accessToken, body });
    assert.ok(
      response.status < 300,
      `${method} ${path}: ${response.status} ${JSON.stringify(response.body)}`,
    );
    return response.body;
  };
  const publishedFlow = async (org: TestChannel, definition: FlowDefinition, name = 'Flow') => {
    const { id } = await api(org, 'POST', '/flows', { name, definition });
    await api(org, 'POST', `/flows/${id}/publish`);
    return id as string;
  };
  const chatbot = (org: TestChannel, flowId: string, triggers: unknown[]) =>
    api(org, 'POST', '/chatbots', { name: 'Bot', channelId: org.channelId, flowId, triggers });

  /** A customer's message through a signed webhook; answers the conversation's stream. */
  const customer = (org: TestChannel, waId = `1555${randomInt(1e6, 9e6)}`) => {
    const stream = `conversation-${conversationIdFor(org.organizationId, org.channelId, waId)}`;
    const send = async (message: MetaMessage) => {
      const body = webhookBody({ phoneNumberId: org.phoneNumberId, messages: [message] });
      assert.equal((await postWebhook(t, body, secret)).status, 200);
    };
    return {
      waId,
      stream,
      id: stream.slice('conversation-'.length),
      says: (text: string) => send(textMessage(waId, `wamid.${randomUUID()}`, text)),
      taps: (id: string, title: string) =>
        send({
          from: waId,
          id: `wamid.${randomUUID()}`,
          timestamp: String(Math.floor(Date.now() / 1000)),
          type: 'interactive',
          interactive: { type: 'button_reply', button_reply: { id, title } },
        } as MetaMessage),
      /** What the bot sent this customer through the Graph API, as text, in order. */
      botSaid: () =>
        graph.requests
          .map(bodyOf)
          .filter((body) => body.to === waId)
          .map((body) => {
            const text = body.text as { body: string } | undefined;
            const interactive = body.interactive as { body: { text: string } } | undefined;
            return text?.body ?? interactive?.body.text ?? String(body.type);
          }),
      waitForBot: async (count: number) => {
        const deadline = Date.now() + 15_000;
        for (;;) {
          const said = graph.requests.map(bodyOf).filter((body) => body.to === waId).length;
          if (said >= count) return;
          if (Date.now() > deadline) throw new Error(`bot said ${said} of ${count} messages to ${waId}`);
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
      },
      events: (done: (events: StoredEvent[]) => boolean) => waitForEvents(t.db.url, stream, done),
    };
  };
  const ended = (events: StoredEvent[]) => events.find((event) => event.type === 'FlowEnded');

  it('captures a lead: asks a name, validates an email with a retry, calls the CRM, branches on its answer and hands off to a queue', async () => {
    const org = await orgWithChannel(t, 'leads');
    const queue = await api(org, 'POST', '/queues', { name: 'Sales', agentIds: [] });
    const flowId = await publishedFlow(org, {
      start: 'ask_name',
      nodes: [
        {
          id: 'ask_name',
          type: 'question',
          text: "Hi! What's your name?",
          variable: 'name',
          input: { kind: 'text' },
          next: 'ask_email',
        },
        {
          id: 'ask_email',
          type: 'question',
          text: 'Thanks {{name}}. Your work email?',
          variable: 'email',
          input: { kind: 'email' },
          retry: { text: 'That is not an email address, {{name}}. Try again?', max: 2 },
          onInvalid: 'to_sales',
          next: 'score',
        },
        {
          id: 'score',
          type: 'api_call',
          request: {
            method: 'POST',
            url: `http://127.0.0.1:${crm.port}/leads?source=whatsapp`,
            headers: { 'x-api-key': 'crm-key-of-the-business' },
            body: { name: '{{name}}', email: '{{email}}', phone: '{{contact.waId}}' },
          },
          map: { score: '/lead/score', tier: '/lead/tier' },
          next: 'hot_or_not',
          onError: 'to_sales',
        },
        {
          id: 'hot_or_not',
          type: 'condition',
          branches: [{ when: 'score >= 50', next: 'hot' }],
          else: 'cold',
        },
        {
          id: 'hot',
          type: 'text',
          text: 'Great news {{name}}: a {{tier}} specialist will call you.',
          next: 'to_sales',
        },
        { id: 'to_sales', type: 'handoff', queueId: queue.id, text: 'Connecting you with our sales team.' },
        { id: 'cold', type: 'text', text: 'Thanks! We will email {{email}}.', next: 'done' },
        { id: 'done', type: 'end' },
      ],
    });
    await chatbot(org, flowId, [{ type: 'default' }]);

    const ana = customer(org);
    await ana.says('hello');
    await ana.waitForBot(1);
    // An agent console watching the conversation sees the bot's turns as they happen. (An agent can
    // only open a conversation the inbox already shows: wait for its read model first.)
    for (let tries = 0; ; tries += 1) {
      const shown = await t.request('GET', `/api/v1/conversations/${ana.id}`, { token: org.accessToken });
      if (shown.status === 200) break;
      if (tries > 200) throw new Error(`the conversation never reached the read model: ${shown.status}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const agentConsole = await TestSocket.open(t.app.port, org.accessToken);
    agentConsole.send({ op: 'subscribe', topic: `conversation:${ana.id}` });
    await agentConsole.next((frame) => frame.op === 'subscribed');
    await ana.says('Ana');
    await ana.waitForBot(2);
    await ana.says('ana at bigco');
    await ana.waitForBot(3);
    await ana.says('ana@BigCo.com');
    await ana.waitForBot(5);
    // The pending request reached the console without its URL, headers or body (the CRM's key).
    const waiting = await agentConsole.next(
      (frame) =>
        frame.op === 'delta' &&
        frame.event.type === 'FlowAdvanced' &&
        frame.event.data.waiting?.kind === 'api',
    );
    assert.deepEqual(Object.keys(waiting.event.data.waiting).sort(), ['kind', 'nodeId', 'requestId']);
    assert.doesNotMatch(JSON.stringify(agentConsole.frames), /crm-key-of-the-business/);
    const botMessage = await agentConsole.next(
      (frame) => frame.op === 'delta' && frame.event.type === 'MessageQueued',
    );
    assert.equal(botMessage.event.data.author.kind, 'bot');
    agentConsole.close();
    assert.deepEqual(ana.botSaid(), [
      "Hi! What's your name?",
      'Thanks Ana. Your work email?',
      'That is not an email address, Ana. Try again?',
      'Great news Ana: a gold specialist will call you.',
      'Connecting you with our sales team.',
    ]);

    // The CRM got exactly the flow's request: its own key, and none of the platform's credentials.
    const call = crm.received.at(-1);
    assert.ok(call);
    assert.equal(call.method, 'POST');
    assert.equal(call.url, '/leads?source=whatsapp');
    assert.deepEqual(JSON.parse(call.body), { name: 'Ana', email: 'ana@bigco.com', phone: ana.waId });
    assert.equal(call.headers['x-api-key'], 'crm-key-of-the-business');
    assert.equal(call.headers.authorization, undefined);
    assert.equal(call.headers.cookie, undefined);

    const events = await ana.events((all) => ended(all) !== undefined);
    assert.equal(ended(events)?.data.reason, 'handoff');
    const assigned = events.find((event) => event.type === 'ConversationAssigned');
    assert.deepEqual(assigned?.data, { assigneeId: null, queueId: queue.id, by: 'bot' });
    const conversation = await api(org, 'GET', `/conversations/${ana.id}`);
    assert.equal(conversation.queueId, queue.id);

    // With humans now, the bot stays quiet.
    await ana.says('anyone there?');
    await ana.events((all) => all.filter((event) => event.type === 'MessageReceived').length === 5);
    assert.equal(ana.botSaid().length, 5);
    const after = await ana.events(() => true);
    assert.equal(typesOf(after).filter((type) => type === 'FlowRunStarted').length, 1);
  });

  it('answers a webhook Meta delivers twice, or out of order with its answer, once', async () => {
    const org = await orgWithChannel(t, 'redelivery');
    const flowId = await publishedFlow(org, {
      start: 'ask',
      nodes: [
        {
          id: 'ask',
          type: 'question',
          text: 'Your city?',
          variable: 'city',
          input: { kind: 'text' },
          next: 'bye',
        },
        { id: 'bye', type: 'text', text: 'Sunny in {{city}}.' },
      ],
    });
    await chatbot(org, flowId, [{ type: 'default' }]);
    const ivo = customer(org);
    const now = Math.floor(Date.now() / 1000);
    const greeting = textMessage(ivo.waId, `wamid.${randomUUID()}`, 'hello', now - 60);
    const hello = webhookBody({ phoneNumberId: org.phoneNumberId, messages: [greeting] });
    await Promise.all([postWebhook(t, hello, secret), postWebhook(t, hello, secret)]);
    assert.equal((await postWebhook(t, hello, secret)).status, 200);
    await ivo.waitForBot(1);
    // The answer and a late copy of the greeting in one body: the greeting is known, the answer is new.
    const answer = textMessage(ivo.waId, `wamid.${randomUUID()}`, 'Lisbon', now);
    const both = webhookBody({
      phoneNumberId: org.phoneNumberId,
      messages: [answer, greeting],
    });
    assert.equal((await postWebhook(t, both, secret)).status, 200);
    await ivo.waitForBot(2);
    const events = await ivo.events((all) => ended(all) !== undefined);
    assert.deepEqual(ivo.botSaid(), ['Your city?', 'Sunny in Lisbon.']);
    assert.equal(typesOf(events).filter((type) => type === 'FlowRunStarted').length, 1);
    assert.equal(typesOf(events).filter((type) => type === 'MessageReceived').length, 2);
  });

  it("fills the organization's secrets into an API call, never into an event, a read model or a console", async () => {
    const org = await orgWithChannel(t, 'secrets');
    const token = `sk-live-${randomUUID()}"quoted`;
    const set = await t.request('PUT', '/api/v1/flow-secrets/crm_token', {
      token: org.accessToken,
      body: { value: token },
    });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.equal(set.body.name, 'crm_token');
    const flowId = await publishedFlow(org, {
      start: 'ask',
      nodes: [
        {
          id: 'ask',
          type: 'question',
          text: 'Your email?',
          variable: 'email',
          input: { kind: 'text' },
          next: 'score',
        },
        {
          id: 'score',
          type: 'api_call',
          request: {
            method: 'POST',
            url: `http://127.0.0.1:${crm.port}/leads`,
            headers: { authorization: 'Bearer {{secret.crm_token}}' },
            body: { email: '{{email}}', token: '{{secret.crm_token}}' },
          },
          next: 'done',
          onError: 'failed',
        },
        { id: 'done', type: 'text', text: 'Saved.' },
        { id: 'failed', type: 'text', text: 'Failed: {{api.error}}' },
      ],
    });
    await chatbot(org, flowId, [{ type: 'default' }]);

    const jon = customer(org);
    await jon.says('hi');
    await jon.waitForBot(1);
    // An answer that spells a secret's marker gets the text, not the secret.
    await jon.says('\uE000secret:crm_token\uE001@x.io');
    await jon.waitForBot(2);
    assert.deepEqual(jon.botSaid(), ['Your email?', 'Saved.']);
    const call = crm.received.at(-1);
    assert.equal(call?.headers.authorization, `Bearer ${token}`);
    assert.deepEqual(JSON.parse(call?.body ?? ''), { email: 'secret:crm_token@x.io', token });

    const db = new pg.Client({ connectionString: t.db.url });
    await db.connect();
    try {
      // Neither the events nor any read model hold the value (the sealed copy is not it either).
      const found = await db.query(
        `SELECT count(*)::int AS n FROM es.events WHERE data::text LIKE '%sk-live-%'`,
      );
      assert.equal(found.rows[0].n, 0);
      const tables = await db.query(
        `SELECT count(*)::int AS n FROM rm.flow_secrets WHERE sealed LIKE '%sk-live-%'`,
      );
      assert.equal(tables.rows[0].n, 0);
    } finally {
      await db.end();
    }
    const listed = await t.request('GET', '/api/v1/flow-secrets', { token: org.accessToken });
    assert.deepEqual(
      listed.body.items.map((item: { name: string }) => item.name),
      ['crm_token'],
    );
    assert.doesNotMatch(JSON.stringify(listed.body), /sk-live-/);

    // Removed, the secret fails the call instead of sending an empty token.
    assert.equal(
      (await t.request('DELETE', '/api/v1/flow-secrets/crm_token', { token: org.accessToken })).status,
      204,
    );
    const kim = customer(org);
    await kim.says('hi');
    await kim.waitForBot(1);
    await kim.says('kim@x.io');
    await kim.waitForBot(2);
    assert.deepEqual(kim.botSaid(), [
      'Your email?',
      "Failed: no flow secret 'crm_token' (PUT /api/v1/flow-secrets/crm_token)",
    ]);
  });

  it('starts a chatbot on its keyword, and not on other messages', async () => {
    const org = await orgWithChannel(t, 'keywords');
    const flowId = await publishedFlow(org, {
      start: 'prices',
      nodes: [{ id: 'prices', type: 'text', text: 'Our plans start at $9, {{contact.name}}.' }],
    });
    await chatbot(org, flowId, [{ type: 'keyword', value: 'pricing', match: 'contains' }]);

    const bruno = customer(org);
    await bruno.says('good morning');
    await bruno.events((all) => typesOf(all).includes('MessageReceived'));
    await bruno.says('What is your PRICING?');
    await bruno.waitForBot(1);
    const events = await bruno.events((all) => ended(all) !== undefined);
    assert.equal(ended(events)?.data.reason, 'completed');
    const started = events.find((event) => event.type === 'FlowRunStarted');
    assert.deepEqual(started?.data.trigger, { type: 'keyword', value: 'pricing' });
    assert.deepEqual(bruno.botSaid(), ['Our plans start at $9, .']);
    // A completed run leaves the bot on: the keyword starts it again.
    await bruno.says('pricing');
    await bruno.waitForBot(2);
  });

  it('takes the timeout branch when the customer does not answer in time', async () => {
    const org = await orgWithChannel(t, 'timeouts');
    const flowId = await publishedFlow(org, {
      start: 'ask',
      nodes: [
        {
          id: 'ask',
          type: 'question',
          text: 'Pick one',
          variable: 'pick',
          input: {
            kind: 'choice',
            options: [
              { id: 'a', title: 'Apples' },
              { id: 'b', title: 'Bananas' },
            ],
          },
          timeout: { seconds: 1, next: 'nudge' },
          next: 'thanks',
        },
        { id: 'nudge', type: 'text', text: 'No answer, no fruit.' },
        { id: 'thanks', type: 'text', text: 'You chose {{pick}}.' },
      ],
    });
    await chatbot(org, flowId, [{ type: 'default' }]);

    const carla = customer(org);
    await carla.says('hi');
    await carla.waitForBot(2);
    assert.deepEqual(carla.botSaid(), ['Pick one', 'No answer, no fruit.']);
    const [ask] = graph.requests.map(bodyOf).filter((body) => body.to === carla.waId);
    assert.equal((ask?.interactive as { type: string } | undefined)?.type, 'button');
    // A tap after the timeout answers nothing: the run is over and the default only starts new conversations.
    await carla.taps('a', 'Apples');
    await carla.events((all) => all.filter((event) => event.type === 'MessageReceived').length === 2);
    assert.equal(carla.botSaid().length, 2);
  });

  it('stops a loop at FLOW_MAX_STEPS, across jump_to_flow, and leaves the conversation to a human with the reason', async () => {
    const org = await orgWithChannel(t, 'loops');
    const { id: flowId } = await api(org, 'POST', '/flows', {
      name: 'Loop',
      definition: { start: 'count', nodes: [{ id: 'count', type: 'assignment', set: { n: '1' } }] },
    });
    await api(org, 'PUT', `/flows/${flowId}`, {
      definition: {
        start: 'count',
        nodes: [
          { id: 'count', type: 'assignment', set: { n: '1' }, next: 'again' },
          { id: 'again', type: 'jump_to_flow', flowId },
        ],
      },
    });
    await api(org, 'POST', `/flows/${flowId}/publish`);
    await chatbot(org, flowId, [{ type: 'default' }]);

    const dana = customer(org);
    await dana.says('hi');
    const events = await dana.events((all) => ended(all) !== undefined);
    const end = ended(events);
    assert.equal(end?.data.reason, 'step_limit');
    assert.match(end?.data.detail, /more than 100 steps in one turn \(FLOW_MAX_STEPS\)/);
    const advanced = events.filter((event) => event.type === 'FlowAdvanced');
    assert.equal(advanced.at(-1)?.data.steps.length, 100);
    // The read models follow the event store shortly after.
    for (const deadline = Date.now() + 10_000; ; ) {
      const runs = await t.request('GET', `/api/v1/conversations/${dana.id}/bot-runs`, {
        token: org.accessToken,
      });
      if (runs.status === 200 && runs.body.items[0]?.status === 'ended') {
        assert.equal(runs.body.items[0].reason, 'step_limit');
        assert.equal(runs.body.items[0].steps, 100);
        break;
      }
      assert.ok(Date.now() < deadline, JSON.stringify(runs.body));
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // The bot hands over and stays off.
    await dana.says('hello?');
    await dana.events((all) => all.filter((event) => event.type === 'MessageReceived').length === 2);
    assert.equal(
      typesOf(await dana.events(() => true)).filter((type) => type === 'FlowRunStarted').length,
      1,
    );
  });

  it('refuses an api_call to 127.0.0.1 that FLOW_API_ALLOWED_HOSTS does not list, taking onError', async () => {
    const org = await orgWithChannel(t, 'ssrf');
    const flowId = await publishedFlow(org, {
      start: 'peek',
      nodes: [
        {
          id: 'peek',
          type: 'api_call',
          request: { method: 'GET', url: `http://127.0.0.1:${intranet.port}/admin` },
          map: { stolen: '/secret' },
          next: 'leak',
          onError: 'refused',
        },
        { id: 'leak', type: 'text', text: 'Got {{stolen}}' },
        { id: 'refused', type: 'text', text: 'Could not call: {{api.error}}' },
      ],
    });
    await chatbot(org, flowId, [{ type: 'default' }]);

    const eve = customer(org);
    await eve.says('hi');
    await eve.waitForBot(1);
    assert.deepEqual(eve.botSaid(), ['Could not call: refused: 127.0.0.1 is a loopback address']);
    assert.equal(intranet.received.length, 0);
  });

  it('finishes a run on the version it started with when a new version is published mid-way', async () => {
    const org = await orgWithChannel(t, 'versions');
    const version = (tag: string): FlowDefinition => ({
      start: 'ask',
      nodes: [
        {
          id: 'ask',
          type: 'question',
          text: `${tag}: your name?`,
          variable: 'name',
          input: { kind: 'text' },
          next: 'bye',
        },
        { id: 'bye', type: 'text', text: `${tag}: bye {{name}}` },
      ],
    });
    const flowId = await publishedFlow(org, version('v1'));
    await chatbot(org, flowId, [{ type: 'default' }]);

    const fred = customer(org);
    await fred.says('hi');
    await fred.waitForBot(1);
    await api(org, 'PUT', `/flows/${flowId}`, { definition: version('v2') });
    const published = await api(org, 'POST', `/flows/${flowId}/publish`);
    assert.equal(published.publishedVersion, 2);

    await fred.says('Fred');
    await fred.waitForBot(2);
    assert.deepEqual(fred.botSaid(), ['v1: your name?', 'v1: bye Fred']);

    const gina = customer(org);
    await gina.says('hi');
    await gina.waitForBot(1);
    assert.deepEqual(gina.botSaid(), ['v2: your name?']);
  });

  it('stops the bot when an agent takes the conversation, and starts it again when handed back', async () => {
    const org = await orgWithChannel(t, 'takeover');
    const flowId = await publishedFlow(org, {
      start: 'ask',
      nodes: [
        { id: 'ask', type: 'question', text: 'Order number?', variable: 'order', input: { kind: 'number' } },
      ],
    });
    await chatbot(org, flowId, [{ type: 'default' }]);

    const hugo = customer(org);
    await hugo.says('where is my order');
    await hugo.waitForBot(1);
    await api(org, 'POST', `/conversations/${hugo.id}/assign`, { assigneeId: org.userId });
    let events = await hugo.events((all) => ended(all) !== undefined);
    assert.equal(ended(events)?.data.reason, 'agent_takeover');
    await hugo.says('1234');
    await hugo.events((all) => all.filter((event) => event.type === 'MessageReceived').length === 2);
    assert.equal(hugo.botSaid().length, 1);

    await api(org, 'POST', `/conversations/${hugo.id}/handback`, { flowId });
    await hugo.waitForBot(2);
    events = await hugo.events(() => true);
    const resumed = typesOf(events).indexOf('BotResumed');
    assert.deepEqual(typesOf(events).slice(resumed - 1, resumed + 2), [
      'ConversationAssigned',
      'BotResumed',
      'FlowRunStarted',
    ]);
    assert.equal((await api(org, 'GET', `/conversations/${hugo.id}`)).assigneeId, null);
    await hugo.says('1234');
    const answered = await hugo.events(
      (all) => all.filter((event) => event.type === 'FlowEnded').length === 2,
    );
    assert.equal(ended(answered.reverse())?.data.reason, 'completed');
  });
});
