import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { conversationIdFor } from '../../src/conversation/conversationActor.ts';
import { requester } from '../support/app.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { bodyOf, type FakeGraphApi, startFakeGraphApi } from '../support/fakeGraphApi.ts';
import { statusUpdate, textMessage, webhookBody } from '../support/metaWebhook.ts';
import { type Server, startServer, stop } from '../support/serverProcess.ts';
import { orgWithChannel, postWebhook, waitForEvents } from '../support/whatsapp.ts';

const secret = 'send-crash-secret';

/**
 * The process dies (SIGKILL) while the Graph API holds two calls: neither outcome is recorded. After
 * the restart, the message a status webhook proves Meta has is not sent again; the other one is,
 * once the grace period has passed without proof.
 */
describe('a server killed in the middle of Graph API calls', { timeout: 120_000 }, () => {
  let db: TestDatabase;
  let graph: FakeGraphApi;
  const dataDir = mkdtempSync(join(tmpdir(), 'pytake-send-crash-'));
  const env = () => ({
    DATABASE_URL: db.url,
    DATA_DIR: dataDir,
    META_APP_SECRET: secret,
    META_GRAPH_URL: graph.url,
    // Long enough for a restart on a loaded machine: the proof must arrive within it.
    OUTBOUND_IN_DOUBT_GRACE_SECONDS: '20',
  });
  before(async () => {
    db = await createTestDatabase('send_crash');
    graph = await startFakeGraphApi();
  });
  after(async () => {
    await graph?.close();
    await db?.drop();
  });

  it('sends again only what Meta has not proven to have', async () => {
    let server: Server = await startServer(env());
    const http = () => ({ request: requester(`http://127.0.0.1:${server.port}`) });
    const org = await orgWithChannel(http(), 'sendcrash');
    const conversation = async (waId: string) => {
      const body = webhookBody({
        phoneNumberId: org.phoneNumberId,
        messages: [textMessage(waId, `wamid.in-${waId}`, 'hi')],
      });
      assert.equal((await postWebhook(http(), body, secret)).status, 200);
      const id = conversationIdFor(org.organizationId, org.channelId, waId);
      return { waId, id, stream: `conversation-${id}` };
    };
    const doubtful = await conversation('15550600001');
    const proven = await conversation('15550600002');
    const send = async (id: string, text: string) => {
      const answer = await http().request('POST', `/api/v1/conversations/${id}/messages`, {
        token: org.accessToken,
        body: { type: 'text', text },
      });
      assert.equal(answer.status, 202);
      return answer.body.id as string;
    };

    graph.hold();
    const doubtfulId = await send(doubtful.id, 'are you still there?');
    const provenId = await send(proven.id, 'your order shipped');
    await graph.waitForRequests(2);
    server.child.kill('SIGKILL');
    await server.exited;
    graph.release();

    server = await startServer(env());
    try {
      const proof = webhookBody({
        phoneNumberId: org.phoneNumberId,
        statuses: [statusUpdate('wamid.meta-had-it', proven.waId, 'sent', { callbackData: provenId })],
      });
      assert.equal((await postWebhook(http(), proof, secret)).status, 200);
      const settled = await waitForEvents(db.url, proven.stream, (e) =>
        e.some((x) => x.type === 'MessageSent'),
      );
      assert.equal(settled.find((e) => e.type === 'MessageSent')?.data.waMessageId, 'wamid.meta-had-it');

      const resent = await waitForEvents(
        db.url,
        doubtful.stream,
        (e) => e.some((x) => x.type === 'MessageSent'),
        60_000,
      );
      assert.equal(resent.find((e) => e.type === 'MessageSent')?.data.messageId, doubtfulId);
      assert.deepEqual(
        resent.filter((e) => e.type === 'MessageSendAttempted').map((e) => e.data.attempt),
        [1, 2],
      );
      const callsTo = (waId: string) => graph.requests.filter((r) => bodyOf(r).to === waId).length;
      assert.equal(callsTo(proven.waId), 1, 'proven by its status: never sent again');
      assert.equal(callsTo(doubtful.waId), 2, 'no proof: sent again after the grace period');
    } finally {
      await stop(server);
    }
  });
});
