import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { conversationIdFor } from '../../src/conversation/conversationActor.ts';
import { requester } from '../support/app.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { textMessage, webhookBody } from '../support/metaWebhook.ts';
import { type Server, startServer, stop } from '../support/serverProcess.ts';
import { conversationEvents, orgWithChannel, postWebhook } from '../support/whatsapp.ts';

const secret = 'two-nodes-secret';

/** Two server processes on one database, Meta delivering the same conversation's webhooks to both. */
describe('two server processes on one conversation', { timeout: 120_000 }, () => {
  let db: TestDatabase;
  const servers: Server[] = [];
  before(async () => {
    db = await createTestDatabase('two_nodes');
    // One DATA_DIR: both nodes use the same generated keys, as a deployment shares its secrets.
    const env = {
      DATABASE_URL: db.url,
      DATA_DIR: mkdtempSync(join(tmpdir(), 'pytake-two-')),
      META_APP_SECRET: secret,
    };
    servers.push(await startServer(env));
    servers.push(await startServer(env));
  });
  after(async () => {
    await Promise.all(servers.map((server) => stop(server)));
    await db?.drop();
  });

  it('records every message once, in one gapless stream, whichever node each delivery reaches', async () => {
    const [a, b] = servers.map((server) => ({ request: requester(`http://127.0.0.1:${server.port}`) }));
    assert.ok(a && b);
    const org = await orgWithChannel(a, 'twonodes');
    const waId = '15550700001';
    const bodies = Array.from({ length: 60 }, (_, n) =>
      webhookBody({
        phoneNumberId: org.phoneNumberId,
        messages: [textMessage(waId, `wamid.two-${n}`, `message ${n}`, 1_800_000_000 + n)],
      }),
    );
    // Every body goes to both nodes at once (a retry after a timeout reaching the other node).
    const answers = await Promise.all(
      bodies.flatMap((body) => [postWebhook(a, body, secret), postWebhook(b, body, secret)]),
    );
    assert.ok(answers.every((answer) => answer.status === 200));

    const stream = `conversation-${conversationIdFor(org.organizationId, org.channelId, waId)}`;
    const events = await conversationEvents(db.url, stream);
    assert.deepEqual(
      events.map((event) => event.revision),
      events.map((_, index) => index),
    );
    assert.equal(events.filter((event) => event.type === 'ConversationStarted').length, 1);
    const received = events
      .filter((event) => event.type === 'MessageReceived')
      .map((event) => event.data.waMessageId);
    assert.equal(received.length, 60);
    assert.equal(new Set(received).size, 60);
  });
});
