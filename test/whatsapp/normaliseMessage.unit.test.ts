import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  type InboundMessage,
  type InboundStatus,
  normaliseMessage,
  normaliseStatus,
} from '../../src/whatsapp/normaliseMessage.ts';
import type { MetaMessage, MetaStatus } from '../../src/whatsapp/webhookPayload.ts';
import { statusUpdate, textMessage } from '../support/metaWebhook.ts';

const fixtures = <T>(kind: 'messages' | 'statuses'): [string, T][] => {
  const directory = new URL(`./fixtures/${kind}/`, import.meta.url);
  return readdirSync(directory)
    .filter((file) => file.endsWith('.json'))
    .map((file) => [file, JSON.parse(readFileSync(new URL(file, directory), 'utf8')) as T]);
};

const from = '15551234567';
const wamid = 'wamid.HBgLMTU1NTEyMzQ1NjcVAgASGBQzQUZCMDRFNkFBNTcwRDg2QjQyMQA=';
const base = { id: wamid, from, timestamp: '1749416383' };
const contentOf = (message: Record<string, unknown>) =>
  normaliseMessage({ ...base, ...message } as MetaMessage).content;
/** What JSON would keep: a member left `undefined` disappears, so deepEqual against this catches it. */
const asJson = <T>(value: T): T => JSON.parse(JSON.stringify(value));

describe('normaliseMessage', () => {
  const messageFixtures = fixtures<{ message: MetaMessage; expected: InboundMessage }>('messages');

  it('turns every fixture into its expected InboundMessage, with no undefined member', () => {
    for (const [file, { message, expected }] of messageFixtures) {
      const before = structuredClone(message);
      const inbound = normaliseMessage(message);
      assert.deepEqual(inbound, expected, file);
      assert.deepEqual(inbound, asJson(inbound), `${file}: an undefined member`);
      assert.deepEqual(message, before, `${file}: the input was changed`);
    }
  });

  it('has a fixture for every type Meta documents', () => {
    const types = new Set(messageFixtures.map(([, { message }]) => message.type));
    for (const type of [
      'text',
      'image',
      'audio',
      'video',
      'document',
      'sticker',
      'location',
      'contacts',
      'interactive',
      'button',
      'reaction',
      'order',
      'system',
      'request_welcome',
      'unsupported',
    ]) {
      assert.ok(types.has(type), type);
    }
  });

  it('reads the timestamp as unix seconds', () => {
    assert.equal(normaliseMessage(textMessage(from, wamid, 'x', 0)).sentAt, '1970-01-01T00:00:00.000Z');
    assert.equal(
      normaliseMessage(textMessage(from, wamid, 'x', 1749416383)).sentAt,
      '2025-06-08T20:59:43.000Z',
    );
  });

  it('keeps only the media fields Meta sent', () => {
    // Strict deepEqual tells `{caption: undefined}` from `{}`.
    assert.deepEqual(contentOf({ type: 'image', image: { id: '27' } }), {
      type: 'image',
      media: { id: '27' },
    });
  });

  it('reads an empty emoji as a removed reaction', () => {
    assert.deepEqual(contentOf({ type: 'reaction', reaction: { message_id: 'wamid.A', emoji: '' } }), {
      type: 'reaction',
      reaction: { waMessageId: 'wamid.A', emoji: null },
    });
  });

  it('turns numeric strings in an order into numbers', () => {
    const content = contentOf({
      type: 'order',
      order: {
        catalog_id: '194836987003835',
        product_items: [{ product_retailer_id: 'x', quantity: '3', item_price: '19.90', currency: 'BRL' }],
      },
    });
    assert.deepEqual(content, {
      type: 'order',
      order: {
        catalogId: '194836987003835',
        items: [{ productRetailerId: 'x', quantity: 3, itemPrice: 19.9, currency: 'BRL' }],
      },
    });
  });

  it('maps the older customer_changed_number system message', () => {
    const content = contentOf({
      type: 'system',
      system: {
        body: 'Customer changed their number',
        new_wa_id: '15557654321',
        type: 'customer_changed_number',
        customer: from,
      },
    });
    assert.deepEqual(content, {
      type: 'system',
      system: {
        kind: 'customer_changed_number',
        body: 'Customer changed their number',
        newWaId: '15557654321',
      },
    });
  });

  it('keeps an nfm_reply without name or body, its JSON unparsed', () => {
    assert.deepEqual(
      contentOf({
        type: 'interactive',
        interactive: { type: 'nfm_reply', nfm_reply: { response_json: '{"a":1}' } },
      }),
      { type: 'interactive', interactive: { kind: 'nfm_reply', responseJson: '{"a":1}' } },
    );
  });

  it('keeps an interactive answer of another kind whole, as unsupported', () => {
    const message = {
      ...base,
      type: 'interactive',
      interactive: { type: 'call_permission_reply', call_permission_reply: { response: 'accept' } },
    } as MetaMessage;
    assert.deepEqual(normaliseMessage(message).content, {
      type: 'unsupported',
      unsupported: { originalType: 'interactive', raw: message },
    });
  });

  it('keeps a type it does not know whole, with the errors Meta attached', () => {
    const message = {
      ...base,
      type: 'poll_creation',
      errors: [{ code: 131051, title: 'Message type unknown' }],
    } as MetaMessage;
    assert.deepEqual(normaliseMessage(message).content, {
      type: 'unsupported',
      unsupported: {
        originalType: 'poll_creation',
        errors: [{ code: 131051, title: 'Message type unknown' }],
        raw: message,
      },
    });
  });

  it('keeps a known type that lacks its sub-object (the schema was skipped) as unsupported, not lost', () => {
    const message = { ...base, type: 'image' } as MetaMessage;
    assert.deepEqual(normaliseMessage(message).content, {
      type: 'unsupported',
      unsupported: { originalType: 'image', raw: message },
    });
  });

  it('leaves out an empty context and keeps the referral as sent', () => {
    const inbound = normaliseMessage({
      ...textMessage(from, wamid, 'x', 1),
      context: {},
      referral: { source_type: 'post' },
    });
    assert.equal('context' in inbound, false);
    assert.deepEqual(inbound.referral, { source_type: 'post' });
  });
});

describe('normaliseStatus', () => {
  it('turns every fixture into its expected InboundStatus, with no undefined member', () => {
    for (const [file, { status, expected }] of fixtures<{ status: MetaStatus; expected: InboundStatus }>(
      'statuses',
    )) {
      const inbound = normaliseStatus(status);
      assert.deepEqual(inbound, expected, file);
      assert.deepEqual(inbound, asJson(inbound), `${file}: an undefined member`);
    }
  });

  it('answers undefined for a status it does not know, so the caller counts and ignores it', () => {
    for (const status of ['played', 'deleted', 'warning', 'SENT', '']) {
      assert.equal(normaliseStatus(statusUpdate(wamid, from, status)), undefined, status);
    }
  });

  it('maps error_data.details and leaves out what Meta did not send', () => {
    const status = statusUpdate(wamid, from, 'failed', {
      timestampSeconds: 1749416705,
      errors: [
        { code: 131026, title: 'Message undeliverable', error_data: { details: 'Not on WhatsApp' } },
        { code: 1, title: 'x' },
      ],
    });
    assert.deepEqual(normaliseStatus(status), {
      waMessageId: wamid,
      recipientWaId: from,
      status: 'failed',
      at: '2025-06-08T21:05:05.000Z',
      errors: [
        { code: 131026, title: 'Message undeliverable', details: 'Not on WhatsApp' },
        { code: 1, title: 'x' },
      ],
    });
  });
});
