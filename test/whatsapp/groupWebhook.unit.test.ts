import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Channel } from '../../src/whatsapp/channelDirectory.ts';
import { type GroupedWebhook, groupWebhook, type ReceiveWebhook } from '../../src/whatsapp/groupWebhook.ts';
import type { MetaMessage, MetaWebhookBody } from '../../src/whatsapp/webhookPayload.ts';
import { multiEntryBody, statusUpdate, textMessage, webhookBody } from '../support/metaWebhook.ts';

const channel = (organizationId: string, channelId: string, phoneNumberId: string): Channel => ({
  organizationId,
  channelId,
  phoneNumberId,
  appSecret: null,
  verifyToken: null,
  accessToken: 'token',
  sendRatePerSecond: null,
});

const acmeSales = channel('org-acme', 'channel-acme-sales', '1000');
const acmeSupport = channel('org-acme', 'channel-acme-support', '2000');
const globex = channel('org-globex', 'channel-globex', '3000');
const unknownNumber = '9000';
const foreignNumber = '9100';

const ana = '15551234567';
const bruno = '5511987654321';
const ts = 1749416383;
const iso = (seconds: number) => new Date(seconds * 1000).toISOString();

/** A fake directory: which numbers this URL serves, and which ask for their own URL. */
function directory(...channels: Channel[]) {
  const asked: string[] = [];
  const channelFor = async (phoneNumberId: string): Promise<Channel | 'unknown' | 'foreign'> => {
    asked.push(phoneNumberId);
    if (phoneNumberId === foreignNumber) return 'foreign';
    return channels.find((candidate) => candidate.phoneNumberId === phoneNumberId) ?? 'unknown';
  };
  return { channelFor, asked };
}

const conversationIdFor = (organizationId: string, channelId: string, waId: string) =>
  `${organizationId}/${channelId}/${waId}`;

const group = (body: MetaWebhookBody, ...channels: Channel[]): Promise<GroupedWebhook> =>
  groupWebhook(body, directory(...channels).channelFor, conversationIdFor);

/** The commands by conversation id, for order-independent lookups. */
const byConversation = (
  grouped: GroupedWebhook,
): Map<string, { organizationId: string; command: ReceiveWebhook }> =>
  new Map(grouped.commands.map((entry) => [entry.command.conversationId, entry]));

const noneSkipped = { unknownNumber: 0, foreignNumber: 0, unknownStatus: 0 };

describe('groupWebhook', () => {
  it('makes one command per organization, number and customer, with their messages, statuses and names', async () => {
    const body = multiEntryBody(
      {
        phoneNumberId: acmeSales.phoneNumberId,
        contacts: [
          { waId: ana, name: 'Ana' },
          { waId: bruno, name: 'Bruno' },
        ],
        messages: [
          textMessage(ana, 'wamid.A1', 'Hi', ts),
          textMessage(bruno, 'wamid.B1', 'Hello', ts + 1),
          textMessage(ana, 'wamid.A2', 'Anyone?', ts + 2),
        ],
        statuses: [
          statusUpdate('wamid.OUT1', ana, 'delivered', { timestampSeconds: ts + 3 }),
          statusUpdate('wamid.OUT2', bruno, 'read', { timestampSeconds: ts + 4 }),
        ],
      },
      {
        phoneNumberId: acmeSupport.phoneNumberId,
        contacts: [{ waId: ana, name: 'Ana (support)' }],
        messages: [textMessage(ana, 'wamid.A3', 'My order is late', ts + 5)],
      },
      {
        phoneNumberId: globex.phoneNumberId,
        statuses: [statusUpdate('wamid.OUT3', ana, 'sent', { timestampSeconds: ts + 6 })],
      },
    );
    const grouped = await group(body, acmeSales, acmeSupport, globex);

    assert.deepEqual(grouped.skipped, noneSkipped);
    assert.deepEqual(grouped.errors, []);
    assert.equal(grouped.commands.length, 4);
    const commands = byConversation(grouped);

    assert.deepEqual(commands.get(`org-acme/channel-acme-sales/${ana}`), {
      organizationId: 'org-acme',
      command: {
        type: 'ReceiveWebhook',
        conversationId: `org-acme/channel-acme-sales/${ana}`,
        channelId: 'channel-acme-sales',
        contact: { waId: ana, name: 'Ana' },
        messages: [
          { waMessageId: 'wamid.A1', from: ana, sentAt: iso(ts), content: { type: 'text', text: 'Hi' } },
          {
            waMessageId: 'wamid.A2',
            from: ana,
            sentAt: iso(ts + 2),
            content: { type: 'text', text: 'Anyone?' },
          },
        ],
        statuses: [
          { waMessageId: 'wamid.OUT1', recipientWaId: ana, status: 'delivered', at: iso(ts + 3), errors: [] },
        ],
      },
    });

    const brunoSales = commands.get(`org-acme/channel-acme-sales/${bruno}`);
    assert.equal(brunoSales?.organizationId, 'org-acme');
    assert.deepEqual(brunoSales?.command.contact, { waId: bruno, name: 'Bruno' });
    assert.deepEqual(
      brunoSales?.command.messages.map((message) => message.waMessageId),
      ['wamid.B1'],
    );
    assert.deepEqual(
      brunoSales?.command.statuses.map((status) => [status.waMessageId, status.status]),
      [['wamid.OUT2', 'read']],
    );

    // The same customer on another number of the same organization is another conversation.
    const anaSupport = commands.get(`org-acme/channel-acme-support/${ana}`);
    assert.equal(anaSupport?.command.channelId, 'channel-acme-support');
    assert.deepEqual(anaSupport?.command.contact, { waId: ana, name: 'Ana (support)' });
    assert.deepEqual(
      anaSupport?.command.messages.map((message) => message.waMessageId),
      ['wamid.A3'],
    );
    assert.deepEqual(anaSupport?.command.statuses, []);

    // A status-only change has no contacts: the name is unknown, not guessed.
    const anaGlobex = commands.get(`org-globex/channel-globex/${ana}`);
    assert.equal(anaGlobex?.organizationId, 'org-globex');
    assert.deepEqual(anaGlobex?.command.contact, { waId: ana, name: null });
    assert.deepEqual(anaGlobex?.command.messages, []);
    assert.deepEqual(
      anaGlobex?.command.statuses.map((status) => [status.waMessageId, status.status]),
      [['wamid.OUT3', 'sent']],
    );
  });

  it('merges the entries of one number into one command, and takes the name from whichever has it', async () => {
    const body = multiEntryBody(
      {
        phoneNumberId: acmeSales.phoneNumberId,
        statuses: [statusUpdate('wamid.OUT1', ana, 'read', { timestampSeconds: ts })],
      },
      {
        phoneNumberId: acmeSales.phoneNumberId,
        contacts: [{ waId: ana, name: 'Ana' }],
        messages: [textMessage(ana, 'wamid.A1', 'Thanks!', ts + 1)],
      },
      {
        phoneNumberId: acmeSales.phoneNumberId,
        contacts: [{ waId: ana, name: 'Ana' }],
        messages: [textMessage(ana, 'wamid.A2', 'Bye', ts + 2)],
      },
    );
    const grouped = await group(body, acmeSales);
    assert.equal(grouped.commands.length, 1);
    const [only] = grouped.commands;
    assert.deepEqual(only?.command.contact, { waId: ana, name: 'Ana' });
    assert.deepEqual(
      only?.command.messages.map((message) => message.waMessageId),
      ['wamid.A1', 'wamid.A2'],
    );
    assert.deepEqual(
      only?.command.statuses.map((status) => status.waMessageId),
      ['wamid.OUT1'],
    );
  });

  it('skips and counts every item of an unknown or foreign number, and makes no command for it', async () => {
    const body = multiEntryBody(
      {
        phoneNumberId: unknownNumber,
        contacts: [{ waId: ana, name: 'Ana' }],
        messages: [textMessage(ana, 'wamid.U1', 'Hi', ts), textMessage(bruno, 'wamid.U2', 'Hi', ts)],
        statuses: [statusUpdate('wamid.OUT9', ana, 'delivered', { timestampSeconds: ts })],
      },
      {
        phoneNumberId: foreignNumber,
        messages: [textMessage(ana, 'wamid.F1', 'Hi', ts)],
        statuses: [
          statusUpdate('wamid.OUT8', ana, 'read', { timestampSeconds: ts }),
          statusUpdate('wamid.OUT7', ana, 'deleted', { timestampSeconds: ts }),
        ],
      },
      {
        phoneNumberId: acmeSales.phoneNumberId,
        contacts: [{ waId: ana, name: 'Ana' }],
        messages: [textMessage(ana, 'wamid.A1', 'Hi', ts)],
      },
    );
    const grouped = await group(body, acmeSales);
    assert.deepEqual(grouped.skipped, { unknownNumber: 3, foreignNumber: 3, unknownStatus: 0 });
    assert.deepEqual(
      grouped.commands.map(({ command }) => command.conversationId),
      [`org-acme/channel-acme-sales/${ana}`],
    );
    assert.deepEqual(
      grouped.commands[0]?.command.messages.map((message) => message.waMessageId),
      ['wamid.A1'],
    );
  });

  it('does not look up a number whose change carries nothing to record', async () => {
    const { channelFor, asked } = directory(acmeSales);
    const body = multiEntryBody(
      { phoneNumberId: unknownNumber, contacts: [{ waId: ana, name: 'Ana' }] },
      { phoneNumberId: acmeSales.phoneNumberId, messages: [textMessage(ana, 'wamid.A1', 'Hi', ts)] },
    );
    const grouped = await groupWebhook(body, channelFor, conversationIdFor);
    assert.deepEqual(asked, [acmeSales.phoneNumberId]);
    assert.deepEqual(grouped.skipped, noneSkipped);
  });

  it('counts a status value it does not know, and keeps the known ones of the same body', async () => {
    const body = webhookBody({
      phoneNumberId: acmeSales.phoneNumberId,
      statuses: [
        statusUpdate('wamid.OUT1', ana, 'deleted', { timestampSeconds: ts }),
        statusUpdate('wamid.OUT1', ana, 'delivered', { timestampSeconds: ts + 1 }),
        statusUpdate('wamid.OUT2', bruno, 'warning', { timestampSeconds: ts + 2 }),
      ],
    });
    const grouped = await group(body, acmeSales);
    assert.deepEqual(grouped.skipped, { unknownNumber: 0, foreignNumber: 0, unknownStatus: 2 });
    assert.equal(grouped.commands.length, 1, 'no command for a customer with only unknown statuses');
    assert.deepEqual(
      grouped.commands[0]?.command.statuses.map((status) => [status.waMessageId, status.status]),
      [['wamid.OUT1', 'delivered']],
    );
  });

  it('normalises failures with their errors and callback data', async () => {
    const body = webhookBody({
      phoneNumberId: acmeSales.phoneNumberId,
      statuses: [
        statusUpdate('wamid.OUT1', ana, 'failed', {
          timestampSeconds: ts,
          callbackData: 'message-1',
          errors: [
            {
              code: 131047,
              title: 'Re-engagement message',
              error_data: { details: 'More than 24 hours have passed.' },
            },
          ],
        }),
      ],
    });
    const grouped = await group(body, acmeSales);
    assert.deepEqual(grouped.commands[0]?.command.statuses, [
      {
        waMessageId: 'wamid.OUT1',
        recipientWaId: ana,
        status: 'failed',
        at: iso(ts),
        errors: [
          { code: 131047, title: 'Re-engagement message', details: 'More than 24 hours have passed.' },
        ],
        callbackData: 'message-1',
      },
    ]);
  });

  it('groups the messages of a user who hides their number under their business-scoped user id', async () => {
    const userId = 'US.13491208655302741918';
    const hidden = (id: string, text: string, seconds: number): MetaMessage => ({
      from_user_id: userId,
      id,
      timestamp: String(seconds),
      type: 'text',
      text: { body: text },
    });
    const body = multiEntryBody({
      phoneNumberId: acmeSales.phoneNumberId,
      contacts: [{ waId: ana, name: 'Ana' }],
      messages: [
        hidden('wamid.H1', 'Hi', ts),
        textMessage(ana, 'wamid.A1', 'Hello', ts),
        hidden('wamid.H2', 'Hm', ts + 1),
      ],
    });
    // Meta sends no wa_id for such a user: only a profile.
    const value = body.entry[0]?.changes[0]?.value as {
      contacts: { wa_id?: string; profile?: { name?: string } }[];
    };
    value.contacts.push({ profile: { name: 'Hidden user' } });

    const grouped = await group(body, acmeSales);
    assert.deepEqual(grouped.skipped, noneSkipped);
    const commands = byConversation(grouped);
    assert.equal(commands.size, 2);
    const user = commands.get(`org-acme/channel-acme-sales/${userId}`)?.command;
    assert.deepEqual(user?.contact, { waId: userId, name: null });
    assert.deepEqual(
      user?.messages.map((message) => [message.waMessageId, message.from]),
      [
        ['wamid.H1', userId],
        ['wamid.H2', userId],
      ],
    );
    assert.deepEqual(commands.get(`org-acme/channel-acme-sales/${ana}`)?.command.contact, {
      waId: ana,
      name: 'Ana',
    });
  });

  it('collects the errors Meta reports for a whole change, and ignores fields other than messages', async () => {
    const body: MetaWebhookBody = {
      object: 'whatsapp_business_account',
      entry: [
        {
          id: '102290129340398',
          changes: [
            { field: 'account_update', value: { phone_number: '15550783881', event: 'VERIFIED_ACCOUNT' } },
            {
              field: 'messages',
              value: {
                messaging_product: 'whatsapp',
                metadata: { display_phone_number: '15550783881', phone_number_id: acmeSales.phoneNumberId },
                errors: [{ code: 131000, title: 'Something went wrong' }],
              },
            },
          ],
        },
      ],
    };
    const { channelFor, asked } = directory(acmeSales);
    const grouped = await groupWebhook(body, channelFor, conversationIdFor);
    assert.deepEqual(grouped.errors, [{ code: 131000, title: 'Something went wrong' }]);
    assert.deepEqual(grouped.commands, []);
    assert.deepEqual(grouped.skipped, noneSkipped);
    assert.deepEqual(asked, []);
  });
});
