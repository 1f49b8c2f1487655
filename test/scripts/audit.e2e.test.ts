import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { conversationIdFor } from '../../src/conversation/conversationActor.ts';
import { startTestApp } from '../support/app.ts';
import { textMessage, webhookBody } from '../support/metaWebhook.ts';
import { runScript } from '../support/runScript.ts';
import { orgWithChannel, postWebhook } from '../support/whatsapp.ts';

describe('npm run audit', { timeout: 120_000 }, () => {
  it("prints a conversation's events in order, by conversation id or stream name", async () => {
    const t = await startTestApp('audit', { META_APP_SECRET: 'audit-secret' });
    try {
      const org = await orgWithChannel(t, 'audit');
      const body = webhookBody({
        phoneNumberId: org.phoneNumberId,
        contacts: [{ waId: '15550409999', name: 'Grace' }],
        messages: [textMessage('15550409999', 'wamid.audit-1', 'Where is my order?')],
      });
      assert.equal((await postWebhook(t, body, 'audit-secret')).status, 200);
      const id = conversationIdFor(org.organizationId, org.channelId, '15550409999');
      const env = { DATABASE_URL: t.db.url };

      const byId = await runScript('scripts/audit.ts', [id], env);
      assert.equal(byId.code, 0, byId.out);
      assert.match(byId.out, /^#0 ConversationStarted .* by meta-webhook/m);
      assert.match(byId.out, /^#1 MessageReceived /m);
      assert.match(byId.out, /Where is my order\?/);
      const byStream = await runScript('scripts/audit.ts', [`conversation-${id}`], env);
      assert.equal(byStream.out, byId.out);

      const none = await runScript('scripts/audit.ts', ['conversation-nothing-here'], env);
      assert.match(none.out, /no events/);
      const usage = await runScript('scripts/audit.ts', [], env);
      assert.equal(usage.code, 2);
    } finally {
      await t.close();
    }
  });
});
