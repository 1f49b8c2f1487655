import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { InboundContent, OutboundContent } from '../../src/conversation/messageContent.ts';
import {
  type ConversationRow,
  inboxAudience,
  messageMedia,
  messageText,
  previewLength,
  previewText,
  toConversationItem,
  toMessageItem,
} from '../../src/conversation/readModelItems.ts';
import { SchemaRegistry } from '../../src/schemas/schemaRegistry.ts';

const fixtures = new URL('../whatsapp/fixtures/messages/', import.meta.url);
const inbound = (name: string): InboundContent =>
  JSON.parse(readFileSync(new URL(`${name}.json`, fixtures), 'utf8')).expected.content;

describe('read-model items', () => {
  it('takes the readable text of each kind of message, where it has one', () => {
    const expected: Record<string, string | null> = {
      text: 'Does it come in another color?',
      image: 'The crack on the left corner',
      interactive_button_reply: 'Yes, confirm',
      interactive_list_reply: '09:00',
      interactive_nfm_reply: 'Sent',
      button: 'Stop promotions',
      reaction: '👍',
      reaction_removed: null,
      order: 'Please deliver before Friday',
      location: null,
      contacts: null,
      request_welcome: null,
      unsupported: null,
      sticker: null,
    };
    for (const [name, text] of Object.entries(expected)) assert.equal(messageText(inbound(name)), text, name);
    // Every fixture maps without throwing, and media only for media kinds.
    for (const file of readdirSync(fixtures)) {
      const content = inbound(file.replace(/\.json$/, ''));
      const media = messageMedia(content);
      if (['image', 'audio', 'video', 'document', 'sticker'].includes(content.type)) {
        assert.equal(typeof (media as { id?: unknown }).id, 'string', file);
      } else {
        assert.equal(media, null, file);
      }
      messageText(content);
    }
  });

  it('reads outbound content the same way (media by URL, interactive body, no text for templates)', () => {
    const outbound: [OutboundContent, string | null][] = [
      [{ type: 'text', text: 'Hi!' }, 'Hi!'],
      [{ type: 'image', media: { url: 'https://example.com/a.png', caption: 'Invoice' } }, 'Invoice'],
      [{ type: 'template', template: { name: 'follow_up', language: 'en_US' } }, null],
      [{ type: 'interactive', interactive: { type: 'button', body: { text: 'Pick one' } } }, 'Pick one'],
    ];
    for (const [content, text] of outbound) assert.equal(messageText(content), text, content.type);
    assert.deepEqual(
      messageMedia({ type: 'document', media: { url: 'https://x.test/f.pdf', filename: 'f.pdf' } }),
      {
        url: 'https://x.test/f.pdf',
        filename: 'f.pdf',
      },
    );
  });

  it('cuts previews at whole code points', () => {
    assert.equal(previewText(null), null);
    assert.equal(previewText('short'), 'short');
    const exact = 'a'.repeat(previewLength);
    assert.equal(previewText(exact), exact);
    const emoji = '😀'.repeat(previewLength + 5);
    const cut = previewText(emoji) ?? '';
    assert.equal(Array.from(cut).length, previewLength);
    assert.ok(cut.endsWith('😀…'));
  });

  it('hears the agents and queues of before and after, once each', () => {
    assert.deepEqual(inboxAudience(null, { assigneeId: null, queueId: null }), {
      assigneeIds: [],
      queueIds: [],
    });
    assert.deepEqual(inboxAudience({ assigneeId: 'a', queueId: 'q' }, { assigneeId: 'b', queueId: 'q' }), {
      assigneeIds: ['b', 'a'],
      queueIds: ['q'],
    });
  });

  it('maps rows to the items the API schemas describe', () => {
    const registry = new SchemaRegistry();
    const row: ConversationRow = {
      conversation_id: '0b6d1f2e-8c1a-5d3e-9f00-000000000001',
      channel_id: '0b6d1f2e-8c1a-5d3e-9f00-000000000002',
      contact_id: '0b6d1f2e-8c1a-5d3e-9f00-000000000003',
      wa_id: '15551234567',
      contact_name: 'Ana',
      status: 'snoozed',
      snoozed_until: new Date('2026-11-27T09:00:00Z'),
      assignee_id: null,
      queue_id: '0b6d1f2e-8c1a-5d3e-9f00-000000000004',
      labels: ['vip'],
      last_message: {
        id: '0b6d1f2e-8c1a-5d3e-9f00-000000000005',
        direction: 'in',
        type: 'text',
        text: 'hello',
        author: { kind: 'contact', id: '0b6d1f2e-8c1a-5d3e-9f00-000000000003' },
        status: 'received',
        at: '2026-11-26T09:00:00.000Z',
      },
      unread_count: 2,
      last_inbound_at: new Date('2026-11-26T09:00:00Z'),
      last_activity_at: new Date('2026-11-26T09:00:01Z'),
      created_at: new Date('2026-11-26T08:00:00Z'),
      updated_at: new Date('2026-11-26T09:00:01Z'),
      position: 18446744073709551n,
    };
    const item = toConversationItem(row);
    assert.equal(item.position, '18446744073709551');
    assert.equal(item.snoozedUntil, '2026-11-27T09:00:00.000Z');
    assert.deepEqual(item.contact, { id: row.contact_id, waId: '15551234567', name: 'Ana' });
    assert.deepEqual(registry.validate('api/conversation', item), []);
    const message = toMessageItem({
      message_id: '0b6d1f2e-8c1a-5d3e-9f00-000000000006',
      direction: 'out',
      type: 'text',
      text: 'hi',
      content: { type: 'text', text: 'hi' },
      media: null,
      status: 'failed',
      status_history: [
        { status: 'queued', at: '2026-11-26T09:00:00.000Z' },
        { status: 'failed', at: '2026-11-26T09:00:02.000Z' },
      ],
      wa_message_id: null,
      author: { kind: 'agent', id: 'u1' },
      error: { code: 131026, title: 'Message undeliverable' },
      created_at: new Date('2026-11-26T09:00:00Z'),
      position: 42n,
    });
    assert.deepEqual(registry.validate('api/message', message), []);
  });
});
