import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { SchemaRegistry } from '../../src/schemas/schemaRegistry.ts';
import type { MetaMessage, MetaStatus } from '../../src/whatsapp/webhookPayload.ts';
import { multiEntryBody, statusUpdate, textMessage, webhookBody } from '../support/metaWebhook.ts';

const registry = new SchemaRegistry();
const errorPaths = (body: unknown): string[] =>
  registry.validate('whatsapp/webhook', body).map((error) => error.path);

const fixtures = <T>(kind: 'messages' | 'statuses'): [string, T][] => {
  const directory = new URL(`./fixtures/${kind}/`, import.meta.url);
  return readdirSync(directory)
    .filter((file) => file.endsWith('.json'))
    .map((file) => [file, JSON.parse(readFileSync(new URL(file, directory), 'utf8')) as T]);
};

const phoneNumberId = '106540352242922';
const from = '15551234567';
const wamid = 'wamid.HBgLMTU1NTEyMzQ1NjcVAgASGBQzQUZCMDRFNkFBNTcwRDg2QjQyMQA=';
const messagePath = '/entry/0/changes/0/value/messages/0';
const statusPath = '/entry/0/changes/0/value/statuses/0';

/** As the server would parse it: a member set to `undefined` is absent. */
const asParsed = (body: unknown): unknown => JSON.parse(JSON.stringify(body));
/** A body carrying one message, malformed on purpose where a test says so. */
const withMessage = (message: Record<string, unknown>) =>
  asParsed(
    webhookBody({
      phoneNumberId,
      messages: [{ id: wamid, from, timestamp: '1749416383', ...message } as MetaMessage],
    }),
  );
const withStatus = (status: Record<string, unknown>) =>
  asParsed(webhookBody({ phoneNumberId, statuses: [status as MetaStatus] }));
const valid = () => webhookBody({ phoneNumberId, messages: [textMessage(from, wamid, 'Hello', 1749416383)] });

describe('the Meta webhook schema', () => {
  it('compiles in strict mode with every other schema', () => {
    for (const id of ['whatsapp/webhook', 'whatsapp/inboundMessage', 'whatsapp/status', 'whatsapp/error']) {
      assert.equal(registry.has(id), true, id);
    }
  });

  it('accepts every message fixture in a body, with its sender among the contacts', () => {
    for (const [file, { message }] of fixtures<{ message: MetaMessage }>('messages')) {
      const body = webhookBody({
        phoneNumberId,
        contacts: [{ waId: from, name: 'Sheena Nelson' }],
        messages: [message],
      });
      assert.deepEqual(errorPaths(body), [], file);
    }
  });

  it('accepts every status fixture in a body', () => {
    for (const [file, { status }] of fixtures<{ status: MetaStatus }>('statuses')) {
      assert.deepEqual(errorPaths(webhookBody({ phoneNumberId, statuses: [status] })), [], file);
    }
  });

  it('accepts several numbers in one body, messages and statuses together', () => {
    const body = multiEntryBody(
      {
        phoneNumberId,
        messages: [textMessage(from, wamid, 'Hi')],
        statuses: [statusUpdate('wamid.A', from, 'read')],
      },
      {
        phoneNumberId: '106540352242923',
        displayPhoneNumber: '15550783882',
        statuses: [statusUpdate('wamid.B', from, 'sent')],
      },
    );
    assert.deepEqual(errorPaths(body), []);
  });

  it('accepts a change of another field whatever its value: the ingester ignores it', () => {
    for (const change of [
      { field: 'account_update', value: { event: 'VERIFIED_ACCOUNT', phone_number: '15550783881' } },
      { field: 'message_template_status_update', value: 'APPROVED' },
      { field: 'smb_message_echoes', value: null },
      { field: 'calls', value: [1, 2, 3] },
    ]) {
      const body = {
        object: 'whatsapp_business_account',
        entry: [{ id: '102290129340398', changes: [change] }],
      };
      assert.deepEqual(errorPaths(body), [], change.field);
    }
  });

  it('accepts a message of a type it does not know with the base fields alone', () => {
    assert.deepEqual(errorPaths(withMessage({ type: 'poll_vote' })), []);
    assert.deepEqual(errorPaths(withMessage({ type: 'poll_vote', poll_vote: { options: [1] } })), []);
  });

  it('accepts a status it does not know, so that Meta adding one is not a 400', () => {
    assert.deepEqual(errorPaths(withStatus(statusUpdate(wamid, from, 'played'))), []);
  });

  it('accepts the shapes Meta documents loosely', () => {
    for (const [what, body] of [
      [
        'a reaction removed with an empty emoji',
        withMessage({ type: 'reaction', reaction: { message_id: wamid, emoji: '' } }),
      ],
      [
        'order quantities and prices as numeric strings',
        withMessage({
          type: 'order',
          order: {
            catalog_id: '194836987003835',
            product_items: [
              { product_retailer_id: 'x', quantity: '2', item_price: '30.50', currency: 'USD' },
            ],
          },
        }),
      ],
      [
        'an interactive answer of another kind',
        withMessage({
          type: 'interactive',
          interactive: { type: 'call_permission_reply', call_permission_reply: {} },
        }),
      ],
      ['an unsupported message without errors', withMessage({ type: 'unsupported' })],
      ['a request_welcome', withMessage({ type: 'request_welcome' })],
      ['a sub-object of another type, not checked', withMessage({ type: 'request_welcome', text: 42 })],
      [
        'a change value with errors only',
        {
          object: 'whatsapp_business_account',
          entry: [
            {
              id: '102290129340398',
              changes: [
                {
                  field: 'messages',
                  value: {
                    messaging_product: 'whatsapp',
                    metadata: { display_phone_number: '15550783881', phone_number_id: phoneNumberId },
                    errors: [{ code: 130429, title: 'Rate limit hit', error_data: { details: 'Too many' } }],
                  },
                },
              ],
            },
          ],
        },
      ],
      ['an empty entry list', { object: 'whatsapp_business_account', entry: [] }],
    ] as const) {
      assert.deepEqual(errorPaths(body), [], what);
    }
  });

  it('accepts fields Meta adds later, at every level', () => {
    const body = {
      object: 'whatsapp_business_account',
      later: 1,
      entry: [
        {
          id: '102290129340398',
          time: 1749416383,
          changes: [
            {
              field: 'messages',
              later: true,
              value: {
                messaging_product: 'whatsapp',
                metadata: { display_phone_number: '15550783881', phone_number_id: phoneNumberId, later: 'x' },
                contacts: [
                  { profile: { name: 'Sheena', username: '@sheena' }, user_id: 'US.1349120865530274191' },
                ],
                messages: [
                  {
                    ...textMessage(from, wamid, 'Hi', 1749416383),
                    from_user_id: 'US.1349120865530274191',
                    group_id: 'g1',
                    text: { body: 'Hi', later: [] },
                  },
                ],
                statuses: [{ ...statusUpdate(wamid, from, 'read'), recipient_user_id: 'US.1' }],
              },
            },
          ],
        },
      ],
    };
    assert.deepEqual(errorPaths(body), []);
  });

  it('refuses what is not a WhatsApp webhook body, naming the field at fault', () => {
    const tooMany = Array.from({ length: 1001 }, (_, n) => textMessage(from, `wamid.${n}`, 'x'));
    const cases: [string, unknown, string, string?][] = [
      ['an array', [], '/'],
      ['a string', 'hello', '/'],
      ['null', null, '/'],
      ['another object', { ...valid(), object: 'page' }, '/object'],
      ['no entry', { object: 'whatsapp_business_account' }, '/entry'],
      ['entry not a list', { object: 'whatsapp_business_account', entry: {} }, '/entry'],
      [
        'an entry without id',
        { object: 'whatsapp_business_account', entry: [{ changes: [] }] },
        '/entry/0/id',
      ],
      [
        'a change without field',
        { object: 'whatsapp_business_account', entry: [{ id: '1', changes: [{ value: {} }] }] },
        '/entry/0/changes/0/field',
      ],
      [
        'a messages change without value',
        { object: 'whatsapp_business_account', entry: [{ id: '1', changes: [{ field: 'messages' }] }] },
        '/entry/0/changes/0/value',
      ],
      [
        'a messages change without metadata',
        {
          object: 'whatsapp_business_account',
          entry: [{ id: '1', changes: [{ field: 'messages', value: { messaging_product: 'whatsapp' } }] }],
        },
        '/entry/0/changes/0/value/metadata',
      ],
      [
        'a phone_number_id that is not one',
        webhookBody({ phoneNumberId: '10654 0352' }),
        '/entry/0/changes/0/value/metadata/phone_number_id',
      ],
      [
        'a message without id',
        withMessage({ type: 'text', text: { body: 'x' }, id: undefined }),
        `${messagePath}/id`,
      ],
      [
        'a message with neither from nor from_user_id',
        withMessage({ type: 'text', text: { body: 'x' }, from: undefined }),
        `${messagePath}/from_user_id`,
        `${messagePath}/from`,
      ],
      [
        'a timestamp that is not unix seconds',
        withMessage({ type: 'text', text: { body: 'x' }, timestamp: '2025-06-08T21:00:00Z' }),
        `${messagePath}/timestamp`,
      ],
      [
        'an id over 256 characters',
        withMessage({ type: 'text', text: { body: 'x' }, id: 'w'.repeat(257) }),
        `${messagePath}/id`,
      ],
      ['a text message without text', withMessage({ type: 'text' }), `${messagePath}/text`],
      ['a text without body', withMessage({ type: 'text', text: {} }), `${messagePath}/text/body`],
      [
        'a text body too long',
        withMessage({ type: 'text', text: { body: 'x'.repeat(8193) } }),
        `${messagePath}/text/body`,
      ],
      [
        'an image without id',
        withMessage({ type: 'image', image: { mime_type: 'image/jpeg' } }),
        `${messagePath}/image/id`,
      ],
      ['an audio without audio', withMessage({ type: 'audio' }), `${messagePath}/audio`],
      [
        'a voice flag that is not a boolean',
        withMessage({ type: 'audio', audio: { id: '1', voice: 'yes' } }),
        `${messagePath}/audio/voice`,
      ],
      [
        'a document filename that is not a string',
        withMessage({ type: 'document', document: { id: '1', filename: 7 } }),
        `${messagePath}/document/filename`,
      ],
      [
        'a location without latitude',
        withMessage({ type: 'location', location: { longitude: 2 } }),
        `${messagePath}/location/latitude`,
      ],
      [
        'a latitude off the globe',
        withMessage({ type: 'location', location: { latitude: 91, longitude: 2 } }),
        `${messagePath}/location/latitude`,
      ],
      [
        'contacts that are not a list',
        withMessage({ type: 'contacts', contacts: {} }),
        `${messagePath}/contacts`,
      ],
      [
        'a button_reply without button_reply',
        withMessage({ type: 'interactive', interactive: { type: 'button_reply' } }),
        `${messagePath}/interactive/button_reply`,
      ],
      [
        'a list_reply without id',
        withMessage({ type: 'interactive', interactive: { type: 'list_reply', list_reply: { title: 'A' } } }),
        `${messagePath}/interactive/list_reply/id`,
      ],
      [
        'an nfm_reply without response_json',
        withMessage({ type: 'interactive', interactive: { type: 'nfm_reply', nfm_reply: { name: 'flow' } } }),
        `${messagePath}/interactive/nfm_reply/response_json`,
      ],
      [
        'an interactive without type',
        withMessage({ type: 'interactive', interactive: {} }),
        `${messagePath}/interactive/type`,
      ],
      [
        'a button without payload',
        withMessage({ type: 'button', button: { text: 'Stop' } }),
        `${messagePath}/button/payload`,
      ],
      [
        'a reaction without message_id',
        withMessage({ type: 'reaction', reaction: { emoji: '👍' } }),
        `${messagePath}/reaction/message_id`,
      ],
      [
        'an order quantity that is not a number',
        withMessage({
          type: 'order',
          order: {
            catalog_id: '1',
            product_items: [{ product_retailer_id: 'x', quantity: 'two', item_price: 1, currency: 'USD' }],
          },
        }),
        `${messagePath}/order/product_items/0/quantity`,
      ],
      [
        'an order without items',
        withMessage({ type: 'order', order: { catalog_id: '1' } }),
        `${messagePath}/order/product_items`,
      ],
      [
        'a system message without body',
        withMessage({ type: 'system', system: { type: 'user_changed_number' } }),
        `${messagePath}/system/body`,
      ],
      [
        'a referred product without its retailer id',
        withMessage({
          type: 'text',
          text: { body: 'x' },
          context: { referred_product: { catalog_id: '1' } },
        }),
        `${messagePath}/context/referred_product/product_retailer_id`,
      ],
      [
        'a message error without code',
        withMessage({ type: 'unsupported', errors: [{ title: 'x' }] }),
        `${messagePath}/errors/0/code`,
      ],
      [
        'a status without recipient_id',
        withStatus({ id: wamid, status: 'sent', timestamp: '1749416383' }),
        `${statusPath}/recipient_id`,
      ],
      [
        'a status that is not a string',
        withStatus({ ...statusUpdate(wamid, from, 'sent'), status: 3 }),
        `${statusPath}/status`,
      ],
      [
        'a status error without title',
        withStatus(statusUpdate(wamid, from, 'failed', { errors: [{ code: 131047 } as never] })),
        `${statusPath}/errors/0/title`,
      ],
      [
        'a contact wa_id that is not a string',
        webhookBody({ phoneNumberId, contacts: [{ waId: 15551234567 as never, name: 'A' }] }),
        '/entry/0/changes/0/value/contacts/0/wa_id',
      ],
      [
        'over 1000 messages',
        webhookBody({ phoneNumberId, messages: tooMany }),
        '/entry/0/changes/0/value/messages',
      ],
    ];
    for (const [what, body, path, alsoNamed] of cases) {
      const paths = errorPaths(body);
      assert.ok(paths.includes(path), `${what}: expected an error at ${path}, got ${JSON.stringify(paths)}`);
      // Only the field itself and the if/then around it may be named: nothing unrelated.
      for (const other of paths) {
        assert.ok(
          other === '/' || path === other || path.startsWith(`${other}/`) || other === alsoNamed,
          `${what}: unexpected error at ${other}`,
        );
      }
    }
  });
});
