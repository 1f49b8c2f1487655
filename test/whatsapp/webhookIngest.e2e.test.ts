import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { conversationIdFor } from '../../src/conversation/conversationActor.ts';
import type { MetaMessage } from '../../src/whatsapp/webhookPayload.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { adminUrl } from '../support/database.ts';
import {
  multiEntryBody,
  signatureHeader,
  statusUpdate,
  textMessage,
  webhookBody,
} from '../support/metaWebhook.ts';
import { conversationEvents, orgWithChannel, postWebhook, type TestChannel } from '../support/whatsapp.ts';

const platformSecret = 'platform-app-secret';
const fixturesDir = new URL('./fixtures/messages/', import.meta.url);
const fixtures = readdirSync(fixturesDir).map((file) => ({
  name: file.replace(/\.json$/, ''),
  ...(JSON.parse(readFileSync(new URL(file, fixturesDir), 'utf8')) as {
    message: MetaMessage;
    expected: { content: unknown; sentAt: string };
  }),
}));

describe('Meta webhook ingestion', { timeout: 180_000 }, () => {
  let t: TestApp;
  let a: TestChannel;
  let b: TestChannel;
  let own: TestChannel;
  before(async () => {
    t = await startTestApp('ingest', { META_APP_SECRET: platformSecret, WEBHOOK_VERIFY_TOKEN: 'verify-me' });
    a = await orgWithChannel(t, 'alpha');
    b = await orgWithChannel(t, 'beta');
    own = await orgWithChannel(t, 'own', { appSecret: 'own-app-secret', verifyToken: 'own-verify' });
  });
  after(async () => {
    await t?.close();
  });

  const streamOf = (channel: TestChannel, waId: string) =>
    `conversation-${conversationIdFor(channel.organizationId, channel.channelId, waId)}`;

  it('records every message type Meta documents, normalised, exactly once', async () => {
    const waId = '15550001111';
    const messages = fixtures.map((fixture, index) => ({
      ...fixture.message,
      from: waId,
      id: `wamid.types-${index}`,
    }));
    const body = webhookBody({ phoneNumberId: a.phoneNumberId, messages, contacts: [{ waId, name: 'Ada' }] });
    const first = await postWebhook(t, body, platformSecret);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const again = await postWebhook(t, body, platformSecret);
    assert.equal(again.status, 200);

    const events = await conversationEvents(t.db.url, streamOf(a, waId));
    assert.equal(events[0]?.type, 'ConversationStarted');
    assert.deepEqual(events[0]?.data.contact, { waId, name: 'Ada' });
    const received = events.filter((event) => event.type === 'MessageReceived');
    assert.equal(received.length, fixtures.length, 'one event per message, none for the redelivery');
    fixtures.forEach((fixture, index) => {
      const event = received.find((e) => e.data.waMessageId === `wamid.types-${index}`);
      assert.ok(event, fixture.name);
      const expected = fixture.expected.content as { type: string; unsupported?: { raw: MetaMessage } };
      // An unknown type keeps the raw message as it was sent (here, with the test's id and sender).
      const content =
        expected.type === 'unsupported' && expected.unsupported
          ? { ...expected, unsupported: { ...expected.unsupported, raw: messages[index] } }
          : expected;
      assert.deepEqual(event.data.content, content, fixture.name);
    });
    assert.equal(events.length, fixtures.length + 1);
  });

  it('records messages as large as Meta may send them (every webhook-valid payload fits its event)', async () => {
    const waId = '15550009999';
    const at = String(Math.floor(Date.now() / 1000));
    const messages = [
      {
        from: waId,
        id: 'wamid.big-1',
        timestamp: at,
        type: 'image',
        image: { id: '1', mime_type: 'image/jpeg', sha256: 'x', caption: 'c'.repeat(8192) },
      },
      {
        from: waId,
        id: 'wamid.big-2',
        timestamp: at,
        type: 'location',
        location: { latitude: 1, longitude: 2, name: 'n'.repeat(1024), address: 'a'.repeat(4096) },
      },
      {
        from: waId,
        id: 'wamid.big-3',
        timestamp: at,
        type: 'interactive',
        interactive: {
          type: 'nfm_reply',
          nfm_reply: {
            name: 'flow',
            body: 'Sent',
            response_json: JSON.stringify({ answer: 'r'.repeat(70_000) }),
          },
        },
      },
    ] as MetaMessage[];
    const body = webhookBody({
      phoneNumberId: a.phoneNumberId,
      messages,
      contacts: [{ waId, name: 'N'.repeat(1024) }],
    });
    const answer = await postWebhook(t, body, platformSecret);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const received = (await conversationEvents(t.db.url, streamOf(a, waId))).filter(
      (e) => e.type === 'MessageReceived',
    );
    assert.equal(received.length, 3);
  });

  it('records a webhook whatever request id a proxy put on it (correlation ids stay UUIDs)', async () => {
    const waId = '15550001212';
    const raw = JSON.stringify(
      webhookBody({ phoneNumberId: a.phoneNumberId, messages: [textMessage(waId, 'wamid.trace-1', 'hi')] }),
    );
    const answer = await t.request('POST', '/webhooks/meta', {
      raw,
      headers: { 'x-hub-signature-256': signatureHeader(raw, platformSecret), 'x-request-id': 'lb-trace:42' },
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.headers.get('x-request-id'), 'lb-trace:42');
    assert.equal((await conversationEvents(t.db.url, streamOf(a, waId))).length, 2);
  });

  it('splits one body carrying several numbers and customers into their own conversations', async () => {
    const body = multiEntryBody(
      {
        phoneNumberId: a.phoneNumberId,
        messages: [
          textMessage('15550002222', 'wamid.multi-1', 'hello A'),
          textMessage('15550003333', 'wamid.multi-2', 'hi'),
        ],
      },
      { phoneNumberId: b.phoneNumberId, messages: [textMessage('15550002222', 'wamid.multi-3', 'hello B')] },
    );
    assert.equal((await postWebhook(t, body, platformSecret)).status, 200);
    const inA = await conversationEvents(t.db.url, streamOf(a, '15550002222'));
    const inB = await conversationEvents(t.db.url, streamOf(b, '15550002222'));
    assert.deepEqual(
      inA.filter((e) => e.type === 'MessageReceived').map((e) => e.data.content.text),
      ['hello A'],
    );
    assert.deepEqual(
      inB.filter((e) => e.type === 'MessageReceived').map((e) => e.data.content.text),
      ['hello B'],
    );
    assert.equal((await conversationEvents(t.db.url, streamOf(a, '15550003333'))).length, 2);
  });

  it('records messages of one customer in the order they were sent, whatever order they arrive in', async () => {
    const waId = '15550004444';
    const later = textMessage(waId, 'wamid.order-2', 'second', 1_800_000_002);
    const earlier = textMessage(waId, 'wamid.order-1', 'first', 1_800_000_001);
    const body = webhookBody({ phoneNumberId: a.phoneNumberId, messages: [later, earlier] });
    assert.equal((await postWebhook(t, body, platformSecret)).status, 200);
    const texts = (await conversationEvents(t.db.url, streamOf(a, waId)))
      .filter((e) => e.type === 'MessageReceived')
      .map((e) => e.data.content.text);
    assert.deepEqual(texts, ['first', 'second']);
  });

  it('keeps statuses for messages it has not recorded, once each', async () => {
    const waId = '15550005555';
    const statuses = webhookBody({
      phoneNumberId: a.phoneNumberId,
      statuses: [
        statusUpdate('wamid.unknown-1', waId, 'read'),
        statusUpdate('wamid.unknown-1', waId, 'delivered'),
        statusUpdate('wamid.unknown-1', waId, 'read'),
      ],
    });
    // Statuses alone start no conversation: nothing PyTake sent belongs to one that never started.
    assert.equal((await postWebhook(t, statuses, platformSecret)).status, 200);
    assert.deepEqual(await conversationEvents(t.db.url, streamOf(a, waId)), []);

    const hello = webhookBody({
      phoneNumberId: a.phoneNumberId,
      messages: [textMessage(waId, 'wamid.st-0', 'hi')],
    });
    assert.equal((await postWebhook(t, hello, platformSecret)).status, 200);
    assert.equal((await postWebhook(t, statuses, platformSecret)).status, 200);
    assert.equal((await postWebhook(t, statuses, platformSecret)).status, 200);
    const held = (await conversationEvents(t.db.url, streamOf(a, waId))).filter(
      (e) => e.type === 'MessageStatusDeferred',
    );
    assert.deepEqual(held.map((e) => e.data.status).sort(), ['delivered', 'read']);
  });

  it("acknowledges but never records a number no channel owns, or another tenant's number", async () => {
    const before = (await conversationEvents(t.db.url)).length;
    const unknown = webhookBody({
      phoneNumberId: '999000999000',
      messages: [textMessage('1555', 'wamid.x-1', 'hi')],
    });
    assert.equal((await postWebhook(t, unknown, platformSecret)).status, 200);
    // Signed with the channel's own secret, on its own URL, but naming another organization's number.
    const foreign = webhookBody({
      phoneNumberId: b.phoneNumberId,
      messages: [textMessage('1555', 'wamid.x-2', 'hi')],
    });
    const own1 = await postWebhook(t, foreign, 'own-app-secret', `/webhooks/meta/${own.channelId}`);
    assert.equal(own1.status, 200);
    // A number with its own app is not served on the platform URL.
    const ownOnPlatform = webhookBody({
      phoneNumberId: own.phoneNumberId,
      messages: [textMessage('1555', 'wamid.x-3', 'hi')],
    });
    assert.equal((await postWebhook(t, ownOnPlatform, platformSecret)).status, 200);
    assert.equal((await conversationEvents(t.db.url)).length, before);
    const metrics = await t.request('GET', '/metrics');
    assert.match(metrics.body, /whatsapp_webhook_items_total\{kind="item",outcome="unknown_number"\} 1/);
    assert.match(metrics.body, /whatsapp_webhook_items_total\{kind="item",outcome="foreign_number"\} 2/);
  });

  it("accepts a channel's own app signature on its own URL only", async () => {
    const body = webhookBody({
      phoneNumberId: own.phoneNumberId,
      messages: [textMessage('15550006666', 'wamid.own-1', 'hey')],
    });
    assert.equal((await postWebhook(t, body, platformSecret, `/webhooks/meta/${own.channelId}`)).status, 401);
    assert.equal(
      (await postWebhook(t, body, 'own-app-secret', `/webhooks/meta/${own.channelId}`)).status,
      200,
    );
    assert.equal((await conversationEvents(t.db.url, streamOf(own, '15550006666'))).length, 2);
    // A channel without its own secret has no URL of its own.
    assert.equal((await postWebhook(t, body, platformSecret, `/webhooks/meta/${a.channelId}`)).status, 401);
  });

  it('refuses bad signatures, oversized, malformed and schema-violating bodies, recording nothing', async () => {
    const before = (await conversationEvents(t.db.url)).length;
    const body = JSON.stringify(
      webhookBody({
        phoneNumberId: a.phoneNumberId,
        messages: [textMessage('15550007777', 'wamid.bad-1', 'x')],
      }),
    );
    const unsigned = await t.request('POST', '/webhooks/meta', { raw: body });
    assert.equal(unsigned.status, 401);
    assert.equal(unsigned.body.code, 'whatsapp.bad_signature');
    assert.equal((await postWebhook(t, body, 'wrong-secret')).status, 401);
    // Signed over the bytes: the same JSON re-serialised with other whitespace no longer matches.
    const signedOther = await t.request('POST', '/webhooks/meta', {
      raw: JSON.stringify(JSON.parse(body), null, 1),
      headers: {
        'x-hub-signature-256': (await import('../support/metaWebhook.ts')).signatureHeader(
          body,
          platformSecret,
        ),
      },
    });
    assert.equal(signedOther.status, 401);
    const malformed = await postWebhook(t, '{"object":', platformSecret);
    assert.equal(malformed.status, 400);
    assert.equal(malformed.body.code, 'whatsapp.invalid_payload');
    const invalid = await postWebhook(
      t,
      JSON.stringify({
        object: 'whatsapp_business_account',
        entry: [
          {
            id: '1',
            changes: [
              {
                field: 'messages',
                value: {
                  messaging_product: 'whatsapp',
                  metadata: { display_phone_number: '1', phone_number_id: a.phoneNumberId },
                  messages: [{ from: '1', timestamp: '1', type: 'text', text: { body: 'no id' } }],
                },
              },
            ],
          },
        ],
      }),
      platformSecret,
    );
    assert.equal(invalid.status, 400);
    assert.ok(
      invalid.body.errors.some((e: { path: string }) => e.path === '/entry/0/changes/0/value/messages/0/id'),
      JSON.stringify(invalid.body.errors),
    );
    const huge = JSON.stringify({
      object: 'whatsapp_business_account',
      entry: [],
      pad: 'x'.repeat(1024 * 1024),
    });
    assert.equal((await postWebhook(t, huge, platformSecret)).status, 413);
    assert.equal((await conversationEvents(t.db.url)).length, before);
  });

  it("answers Meta's subscription handshake with the challenge only for a known verify token", async () => {
    const ask = (path: string, token: string) =>
      t.request('GET', `${path}?hub.mode=subscribe&hub.verify_token=${token}&hub.challenge=1158201444`);
    const platform = await ask('/webhooks/meta', 'verify-me');
    assert.equal(platform.status, 200);
    assert.equal(platform.body, '1158201444');
    assert.equal((await ask('/webhooks/meta', 'own-verify')).status, 200);
    assert.equal((await ask('/webhooks/meta', 'nope')).status, 403);
    assert.equal((await ask(`/webhooks/meta/${own.channelId}`, 'own-verify')).status, 200);
    assert.equal((await ask(`/webhooks/meta/${own.channelId}`, 'verify-me')).status, 403);
  });

  it('answers 503 while the event store is down, and records the redelivery once when it is back', async () => {
    const waId = '15550008888';
    const body = webhookBody({
      phoneNumberId: a.phoneNumberId,
      messages: [textMessage(waId, 'wamid.down-1', 'are you there?')],
    });
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    const name = t.db.name;
    try {
      // Warm the channel cache first, so only the append can fail.
      await postWebhook(
        t,
        webhookBody({
          phoneNumberId: a.phoneNumberId,
          messages: [textMessage(waId, 'wamid.down-0', 'hello')],
        }),
        platformSecret,
      );
      await admin.query(`ALTER DATABASE "${name}" ALLOW_CONNECTIONS false`);
      await admin.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [name],
      );
      const down = await postWebhook(t, body, platformSecret);
      assert.equal(down.status, 503, JSON.stringify(down.body));
      assert.ok(down.headers.get('retry-after'));
    } finally {
      await admin.query(`ALTER DATABASE "${name}" ALLOW_CONNECTIONS true`);
      await admin.end();
    }
    const back = await postWebhook(t, body, platformSecret);
    assert.equal(back.status, 200, JSON.stringify(back.body));
    assert.equal((await postWebhook(t, body, platformSecret)).status, 200);
    const texts = (await conversationEvents(t.db.url, streamOf(a, waId)))
      .filter((e) => e.type === 'MessageReceived')
      .map((e) => e.data.content.text);
    assert.deepEqual(texts, ['hello', 'are you there?']);
  });
});
