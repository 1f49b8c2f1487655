import type { ConversationCommand } from '../conversation/conversationCommands.ts';
import type { Channel } from './channelDirectory.ts';
import { normaliseMessage, normaliseStatus, senderOf } from './normaliseMessage.ts';
import { isMessagesChange, type MetaErrorObject, type MetaWebhookBody } from './webhookPayload.ts';

export type ReceiveWebhook = Extract<ConversationCommand, { type: 'ReceiveWebhook' }>;

/** One actor command per conversation the body touches, and what was left out and why. */
export type GroupedWebhook = {
  commands: { organizationId: string; command: ReceiveWebhook }[];
  skipped: { unknownNumber: number; foreignNumber: number; unknownStatus: number };
  /** Errors Meta reported on the changes themselves (not on a message). */
  errors: MetaErrorObject[];
};

/**
 * Splits a validated body into per-conversation commands. One body may carry several numbers
 * (entries, changes), contacts, messages and statuses; everything for one customer of one number
 * becomes one command, so one append. `channelFor` answers the channel of a phone number id that
 * this URL may deliver for (undefined: unknown, or owned by a channel with its own app and URL).
 */
export async function groupWebhook(
  body: MetaWebhookBody,
  channelFor: (phoneNumberId: string) => Promise<Channel | 'unknown' | 'foreign'>,
  conversationIdFor: (organizationId: string, channelId: string, waId: string) => string,
): Promise<GroupedWebhook> {
  const grouped: GroupedWebhook = {
    commands: [],
    skipped: { unknownNumber: 0, foreignNumber: 0, unknownStatus: 0 },
    errors: [],
  };
  const byConversation = new Map<string, { organizationId: string; command: ReceiveWebhook }>();
  for (const entry of body.entry) {
    for (const change of entry.changes) {
      if (!isMessagesChange(change)) continue;
      const value = change.value;
      if (value.errors) grouped.errors.push(...value.errors);
      const items = (value.messages?.length ?? 0) + (value.statuses?.length ?? 0);
      if (items === 0) continue;
      const channel = await channelFor(value.metadata.phone_number_id);
      if (channel === 'unknown' || channel === 'foreign') {
        grouped.skipped[channel === 'unknown' ? 'unknownNumber' : 'foreignNumber'] += items;
        continue;
      }
      const names = new Map(
        (value.contacts ?? []).flatMap((contact) => {
          const id = contact.wa_id ?? contact.user_id;
          return id === undefined ? [] : [[id, contact.profile?.name ?? null] as const];
        }),
      );
      const commandFor = (waId: string) => {
        const conversationId = conversationIdFor(channel.organizationId, channel.channelId, waId);
        let entry = byConversation.get(conversationId);
        if (!entry) {
          entry = {
            organizationId: channel.organizationId,
            command: {
              type: 'ReceiveWebhook',
              conversationId,
              channelId: channel.channelId,
              contact: { waId, name: names.get(waId) ?? null },
              messages: [],
              statuses: [],
            },
          };
          byConversation.set(conversationId, entry);
        } else if (entry.command.contact.name === null) {
          entry.command.contact.name = names.get(waId) ?? null;
        }
        return entry.command;
      };
      for (const message of value.messages ?? [])
        commandFor(senderOf(message)).messages.push(normaliseMessage(message));
      for (const status of value.statuses ?? []) {
        const normalised = normaliseStatus(status);
        if (normalised === undefined) grouped.skipped.unknownStatus += 1;
        else commandFor(status.recipient_id).statuses.push(normalised);
      }
    }
  }
  grouped.commands = [...byConversation.values()];
  return grouped;
}
