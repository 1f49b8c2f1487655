import { createHmac } from 'node:crypto';
import type {
  MetaEntry,
  MetaErrorObject,
  MetaMessage,
  MetaMessagesValue,
  MetaStatus,
  MetaWebhookBody,
} from '../../src/whatsapp/webhookPayload.ts';

/** What one business phone number got in a webhook: one entry with one `messages` change. */
export type WebhookPart = {
  phoneNumberId: string;
  displayPhoneNumber?: string;
  /** The WhatsApp Business Account id of the entry. */
  wabaId?: string;
  messages?: MetaMessage[];
  statuses?: MetaStatus[];
  contacts?: { waId: string; name: string }[];
};

/** A webhook body as Meta sends it, for one business phone number. */
export function webhookBody(part: WebhookPart): MetaWebhookBody {
  return multiEntryBody(part);
}

/** A webhook body with one entry per part, as when Meta batches several numbers' changes. */
export function multiEntryBody(...parts: WebhookPart[]): MetaWebhookBody {
  return { object: 'whatsapp_business_account', entry: parts.map(entry) };
}

function entry(part: WebhookPart): MetaEntry {
  const value: MetaMessagesValue = {
    messaging_product: 'whatsapp',
    metadata: {
      display_phone_number: part.displayPhoneNumber ?? '15550783881',
      phone_number_id: part.phoneNumberId,
    },
  };
  if (part.contacts) {
    value.contacts = part.contacts.map(({ waId, name }) => ({ profile: { name }, wa_id: waId }));
  }
  if (part.messages) value.messages = part.messages;
  if (part.statuses) value.statuses = part.statuses;
  return { id: part.wabaId ?? '102290129340398', changes: [{ field: 'messages', value }] };
}

/** The `X-Hub-Signature-256` header Meta would send with this raw body. */
export function signatureHeader(rawBody: string | Buffer, appSecret: string): string {
  return `sha256=${createHmac('sha256', appSecret).update(rawBody).digest('hex')}`;
}

const nowInSeconds = (): number => Math.floor(Date.now() / 1000);

export function textMessage(
  from: string,
  waMessageId: string,
  text: string,
  timestampSeconds: number = nowInSeconds(),
): MetaMessage {
  return { from, id: waMessageId, timestamp: String(timestampSeconds), type: 'text', text: { body: text } };
}

/** `status` is a string so tests can send one PyTake does not know. */
export function statusUpdate(
  waMessageId: string,
  recipient: string,
  status: string,
  opts: { timestampSeconds?: number; errors?: MetaErrorObject[]; callbackData?: string } = {},
): MetaStatus {
  const update: MetaStatus = {
    id: waMessageId,
    status,
    timestamp: String(opts.timestampSeconds ?? nowInSeconds()),
    recipient_id: recipient,
  };
  if (opts.errors) update.errors = opts.errors;
  if (opts.callbackData !== undefined) update.biz_opaque_callback_data = opts.callbackData;
  return update;
}
