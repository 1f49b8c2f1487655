import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { requester } from '../support/app.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { signatureHeader, textMessage, webhookBody } from '../support/metaWebhook.ts';
import { type Server, startServer, stop } from '../support/serverProcess.ts';
import { conversationEvents, orgWithChannel } from '../support/whatsapp.ts';

const secret = 'crash-app-secret';
const webhooks = 400;

/**
 * Meta's promise is that a webhook not answered 200 comes again. So whatever was acknowledged must
 * be stored, and whatever was not must be accepted once when it comes again: SIGKILL the server with
 * webhooks in flight, restart it, redeliver the unacknowledged, and count.
 */
describe('a server killed with webhooks in flight', { timeout: 180_000 }, () => {
  let db: TestDatabase;
  const env = () => ({
    DATABASE_URL: db.url,
    DATA_DIR: dataDir,
    META_APP_SECRET: secret,
    LOG_LEVEL: 'info',
  });
  const dataDir = mkdtempSync(join(tmpdir(), 'pytake-crash-'));
  before(async () => {
    db = await createTestDatabase('ingest_crash');
  });
  after(async () => {
    await db?.drop();
  });

  it('loses nothing and records every message exactly once after redelivery', async () => {
    let server: Server = await startServer(env());
    const base = () => `http://127.0.0.1:${server.port}`;
    const admin = await orgWithChannel({ request: requester(base()) }, 'crash');

    const bodies = Array.from({ length: webhooks }, (_, i) => {
      const waId = `1555020${String(i % 40).padStart(4, '0')}`;
      return JSON.stringify(
        webhookBody({
          phoneNumberId: admin.phoneNumberId,
          contacts: [{ waId, name: `Customer ${i % 40}` }],
          messages: [textMessage(waId, `wamid.crash-${i}`, `message ${i}`)],
        }),
      );
    });
    const deliver = (body: string) =>
      fetch(`${base()}/webhooks/meta`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': signatureHeader(body, secret) },
        body,
      }).then(
        (response) => response.status === 200,
        () => false,
      );

    // All in flight at once; the kill lands once a quarter of them were acknowledged.
    let acknowledged = 0;
    const killed = new Promise<void>((resolve) => {
      const outcomes = bodies.map((body) =>
        deliver(body).then((ok) => {
          if (ok && ++acknowledged === webhooks / 4) {
            server.child.kill('SIGKILL');
            resolve();
          }
          return ok;
        }),
      );
      void Promise.all(outcomes).then((all) => {
        delivered = all;
        resolve();
      });
    });
    let delivered: boolean[] = [];
    await killed;
    await server.exited;
    while (delivered.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    const acked = delivered.filter(Boolean).length;
    assert.ok(acked < webhooks, 'the kill landed while webhooks were in flight');

    server = await startServer(env());
    try {
      const missing = bodies.filter((_, i) => !delivered[i]);
      const redelivered = await Promise.all(missing.map(deliver));
      assert.ok(redelivered.every(Boolean), 'every redelivery is acknowledged');
      // Meta may also redeliver some that were acknowledged: nothing new is recorded for them.
      assert.ok((await Promise.all(bodies.slice(0, 20).map(deliver))).every(Boolean));

      const received = (await conversationEvents(db.url)).filter((event) => event.type === 'MessageReceived');
      const counts = new Map<string, number>();
      for (const event of received)
        counts.set(event.data.waMessageId, (counts.get(event.data.waMessageId) ?? 0) + 1);
      assert.equal(counts.size, webhooks, 'every message is stored');
      assert.ok(
        [...counts.values()].every((count) => count === 1),
        'each exactly once',
      );
      const started = (await conversationEvents(db.url)).filter(
        (event) => event.type === 'ConversationStarted',
      );
      assert.equal(started.length, 40, 'one conversation per customer');
    } finally {
      await stop(server);
    }
  });
});
