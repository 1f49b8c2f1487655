import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { OutboundContent } from '../../src/conversation/messageContent.ts';
import { classifyGraphError, graphRequestBody, type SendRequest } from '../../src/whatsapp/graphClient.ts';

const envelope = { messaging_product: 'whatsapp', recipient_type: 'individual', to: '5511999990000' };

function bodyFor(content: OutboundContent, extra: Partial<SendRequest> = {}): Record<string, unknown> {
  return graphRequestBody({
    phoneNumberId: '1061',
    accessToken: 'EAAG-secret',
    to: '5511999990000',
    content,
    ...extra,
  });
}

test('text: body, and preview_url only when asked', () => {
  assert.deepEqual(bodyFor({ type: 'text', text: 'Olá' }), {
    ...envelope,
    type: 'text',
    text: { body: 'Olá' },
  });
  assert.deepEqual(bodyFor({ type: 'text', text: 'see https://pytake.dev', previewUrl: true }), {
    ...envelope,
    type: 'text',
    text: { body: 'see https://pytake.dev', preview_url: true },
  });
});

test('media by link: caption on image, video and document; filename on document only', () => {
  const media = { url: 'https://cdn.example/f', caption: 'look', filename: 'invoice.pdf' };
  assert.deepEqual(bodyFor({ type: 'image', media }), {
    ...envelope,
    type: 'image',
    image: { link: media.url, caption: 'look' },
  });
  assert.deepEqual(bodyFor({ type: 'video', media }), {
    ...envelope,
    type: 'video',
    video: { link: media.url, caption: 'look' },
  });
  assert.deepEqual(bodyFor({ type: 'document', media }), {
    ...envelope,
    type: 'document',
    document: { link: media.url, caption: 'look', filename: 'invoice.pdf' },
  });
  assert.deepEqual(bodyFor({ type: 'audio', media }), {
    ...envelope,
    type: 'audio',
    audio: { link: media.url },
  });
  assert.deepEqual(bodyFor({ type: 'sticker', media }), {
    ...envelope,
    type: 'sticker',
    sticker: { link: media.url },
  });
  assert.deepEqual(bodyFor({ type: 'image', media: { url: media.url } }), {
    ...envelope,
    type: 'image',
    image: { link: media.url },
  });
});

test('template: language becomes {code}, components pass through when given', () => {
  const components = [{ type: 'body', parameters: [{ type: 'text', text: 'Ana' }] }];
  assert.deepEqual(
    bodyFor({ type: 'template', template: { name: 'order_ready', language: 'pt_BR', components } }),
    {
      ...envelope,
      type: 'template',
      template: { name: 'order_ready', language: { code: 'pt_BR' }, components },
    },
  );
  assert.deepEqual(bodyFor({ type: 'template', template: { name: 'hello_world', language: 'en_US' } }), {
    ...envelope,
    type: 'template',
    template: { name: 'hello_world', language: { code: 'en_US' } },
  });
});

test('interactive: button, list and cta_url objects are sent as they are', () => {
  const interactives: Record<string, unknown>[] = [
    {
      type: 'button',
      body: { text: 'Confirm?' },
      action: { buttons: [{ type: 'reply', reply: { id: 'yes', title: 'Yes' } }] },
    },
    {
      type: 'list',
      body: { text: 'Pick one' },
      action: { button: 'Options', sections: [{ title: 'A', rows: [{ id: 'a1', title: 'First' }] }] },
    },
    {
      type: 'cta_url',
      body: { text: 'Track your order' },
      action: { name: 'cta_url', parameters: { display_text: 'Track', url: 'https://pytake.dev/t/1' } },
    },
  ];
  for (const interactive of interactives) {
    assert.deepEqual(bodyFor({ type: 'interactive', interactive }), {
      ...envelope,
      type: 'interactive',
      interactive,
    });
  }
});

test('replyTo becomes context.message_id and callbackData biz_opaque_callback_data', () => {
  assert.deepEqual(
    bodyFor({ type: 'text', text: 'yes' }, { replyTo: 'wamid.HBgL123', callbackData: 'outbox:42' }),
    {
      ...envelope,
      context: { message_id: 'wamid.HBgL123' },
      biz_opaque_callback_data: 'outbox:42',
      type: 'text',
      text: { body: 'yes' },
    },
  );
});

test('the access token never goes into the body', () => {
  assert.ok(!JSON.stringify(bodyFor({ type: 'text', text: 'hi' })).includes('EAAG-secret'));
});

test('classifies Graph errors: Meta code first, HTTP status otherwise', () => {
  const cases: [status: number, code: number | undefined, retryable: boolean, why: string][] = [
    [500, 1, true, 'API unknown: possibly downtime'],
    [503, 2, true, 'API service: downtime'],
    [400, 4, true, 'app call limit'],
    [400, 17, true, 'user call limit'],
    [400, 341, true, 'application limit'],
    [400, 80007, true, 'account rate limit'],
    [400, 130429, true, 'phone number throughput'],
    [500, 131000, true, 'something went wrong'],
    [503, 131016, true, 'service unavailable'],
    [400, 131056, true, 'pair rate limit'],
    [429, 131056, true, 'pair rate limit as a 429'],
    [400, 131048, false, 'spam rate limit: lifted on quality, not time'],
    [400, 131049, false, 'ecosystem engagement'],
    [400, 131047, false, 're-engagement: 24-hour window closed'],
    [400, 131026, false, 'undeliverable'],
    [400, 132000, false, 'template parameter count'],
    [404, 132001, false, 'template missing'],
    [400, 132069, false, 'last template code'],
    [400, 100, false, 'invalid parameter'],
    [400, 131008, false, 'required parameter missing'],
    [400, 131009, false, 'parameter value invalid'],
    [400, 131051, false, 'unsupported message type'],
    [401, 190, false, 'token expired'],
    [403, 10, false, 'permission denied'],
    [403, 200, false, 'permission'],
    [403, 299, false, 'permission'],
    [500, 3, false, 'capability missing, even as a 500'],
    [403, 368, false, 'blocked for policy violations'],
    [403, 131031, false, 'account locked'],
    [503, undefined, true, 'HTTP 5xx without a Meta error'],
    [502, 999999, true, 'unknown code on a 5xx'],
    [429, undefined, true, 'HTTP 429'],
    [408, undefined, true, 'HTTP 408'],
    [400, undefined, false, 'other 4xx'],
    [404, 999999, false, 'unknown code on a 4xx'],
    [409, undefined, false, 'other 4xx'],
  ];
  for (const [status, code, retryable, why] of cases) {
    const error = code === undefined ? undefined : { code, title: why };
    assert.deepEqual(classifyGraphError(status, error), { retryable }, `${status} ${code}: ${why}`);
  }
});
