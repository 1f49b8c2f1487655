import type { InboundContent, Media, MetaError } from '../conversation/messageContent.ts';
import type {
  MetaErrorObject,
  MetaInteractive,
  MetaMedia,
  MetaMessage,
  MetaStatus,
} from './webhookPayload.ts';

/** An inbound WhatsApp message in PyTake's shape: Meta's field names stop here. */
export type InboundMessage = {
  waMessageId: string;
  from: string;
  /** ISO 8601 from Meta's unix-seconds timestamp. */
  sentAt: string;
  content: InboundContent;
  context?: {
    waMessageId?: string;
    from?: string;
    forwarded?: boolean;
    frequentlyForwarded?: boolean;
    referredProduct?: { catalogId: string; productRetailerId: string };
  };
  /** Meta's click-to-WhatsApp ad referral object, kept as sent. */
  referral?: Record<string, unknown>;
};

export type InboundStatus = {
  waMessageId: string;
  recipientWaId: string;
  status: KnownStatus;
  at: string;
  errors: MetaError[];
  /** Meta's `biz_opaque_callback_data`. */
  callbackData?: string;
};

const knownTypes = [
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
] as const;
type KnownType = (typeof knownTypes)[number];
const isKnownType = (type: string): type is KnownType => (knownTypes as readonly string[]).includes(type);

const knownStatuses = ['sent', 'delivered', 'read', 'failed'] as const;
type KnownStatus = (typeof knownStatuses)[number];
const isKnownStatus = (status: string): status is KnownStatus =>
  (knownStatuses as readonly string[]).includes(status);

/**
 * Pure: a validated Meta message → PyTake's InboundMessage. A type PyTake does not know becomes
 * `unsupported` with the raw message kept, so nothing Meta sends is lost.
 */
export function normaliseMessage(message: MetaMessage): InboundMessage {
  const inbound: InboundMessage = {
    waMessageId: message.id,
    from: senderOf(message),
    sentAt: isoFromUnixSeconds(message.timestamp),
    content: normaliseContent(message),
  };
  if (message.context !== undefined) {
    const { id, from, forwarded, frequently_forwarded, referred_product } = message.context;
    const context: InboundMessage['context'] = compact({
      waMessageId: id,
      from,
      forwarded,
      frequentlyForwarded: frequently_forwarded,
      referredProduct:
        referred_product === undefined
          ? undefined
          : {
              catalogId: referred_product.catalog_id,
              productRetailerId: referred_product.product_retailer_id,
            },
    });
    if (Object.keys(context).length > 0) inbound.context = context;
  }
  if (message.referral !== undefined) inbound.referral = message.referral;
  return inbound;
}

/** Pure: a Meta status → InboundStatus, or `undefined` for a status value PyTake does not know. */
export function normaliseStatus(status: MetaStatus): InboundStatus | undefined {
  if (!isKnownStatus(status.status)) return undefined;
  return compact({
    waMessageId: status.id,
    recipientWaId: status.recipient_id,
    status: status.status,
    at: isoFromUnixSeconds(status.timestamp),
    errors: (status.errors ?? []).map(normaliseError),
    callbackData: status.biz_opaque_callback_data,
  });
}

/** Meta's error object → PyTake's; `details` comes from `error_data.details`. */
export function normaliseError(error: MetaErrorObject): MetaError {
  return compact({
    code: error.code,
    title: error.title,
    message: error.message,
    details: error.error_data?.details,
  });
}

function normaliseContent(message: MetaMessage): InboundContent {
  const { type } = message;
  if (!isKnownType(type)) return unsupported(message, type);
  // A missing sub-object only gets past a caller that skipped the schema: keep the message anyway.
  switch (type) {
    case 'text':
      return message.text ? { type, text: message.text.body } : unsupported(message, type);
    case 'image':
    case 'audio':
    case 'video':
    case 'document':
    case 'sticker': {
      const source = message[type];
      return source ? { type, media: normaliseMedia(source) } : unsupported(message, type);
    }
    case 'location': {
      const location = message.location;
      if (!location) return unsupported(message, type);
      const { latitude, longitude, name, address, url } = location;
      return { type, location: compact({ latitude, longitude, name, address, url }) };
    }
    case 'contacts':
      return message.contacts ? { type, contacts: message.contacts } : unsupported(message, type);
    case 'interactive': {
      const answer = message.interactive && interactiveAnswer(message.interactive);
      return answer ? { type, interactive: answer } : unsupported(message, type);
    }
    case 'button':
      return message.button
        ? { type, button: { text: message.button.text, payload: message.button.payload } }
        : unsupported(message, type);
    case 'reaction':
      return message.reaction
        ? {
            type,
            reaction: { waMessageId: message.reaction.message_id, emoji: message.reaction.emoji || null },
          }
        : unsupported(message, type);
    case 'order': {
      const order = message.order;
      if (!order) return unsupported(message, type);
      return {
        type,
        order: compact({
          catalogId: order.catalog_id,
          text: order.text,
          items: order.product_items.map((item) => ({
            productRetailerId: item.product_retailer_id,
            quantity: Number(item.quantity),
            itemPrice: Number(item.item_price),
            currency: item.currency,
          })),
        }),
      };
    }
    case 'system': {
      const system = message.system;
      if (!system) return unsupported(message, type);
      return {
        type,
        system: compact({
          kind: system.type,
          body: system.body,
          waId: system.wa_id,
          newWaId: system.new_wa_id,
        }),
      };
    }
    case 'request_welcome':
      return { type };
    case 'unsupported':
      return unsupported(message, type);
    default: {
      const unreachable: never = type;
      return unreachable;
    }
  }
}

type InteractiveAnswer = Extract<InboundContent, { type: 'interactive' }>['interactive'];

function interactiveAnswer({
  type,
  button_reply,
  list_reply,
  nfm_reply,
}: MetaInteractive): InteractiveAnswer | undefined {
  switch (type) {
    case 'button_reply':
      return button_reply && { kind: type, id: button_reply.id, title: button_reply.title };
    case 'list_reply':
      return (
        list_reply &&
        compact({
          kind: type,
          id: list_reply.id,
          title: list_reply.title,
          description: list_reply.description,
        })
      );
    case 'nfm_reply':
      return (
        nfm_reply &&
        compact({
          kind: type,
          name: nfm_reply.name,
          body: nfm_reply.body,
          responseJson: nfm_reply.response_json,
        })
      );
    default:
      // Another kind of answer (call_permission_reply, …): the caller keeps it as unsupported.
      return undefined;
  }
}

function normaliseMedia(source: MetaMedia): Media {
  return compact({
    id: source.id,
    mimeType: source.mime_type,
    sha256: source.sha256,
    caption: source.caption,
    filename: source.filename,
    voice: source.voice,
    animated: source.animated,
  });
}

function unsupported(message: MetaMessage, originalType: string): InboundContent {
  return {
    type: 'unsupported',
    unsupported: compact({ originalType, errors: message.errors?.map(normaliseError), raw: message }),
  };
}

const isoFromUnixSeconds = (seconds: string): string => new Date(Number(seconds) * 1000).toISOString();

/** Drops `undefined` members, so results deep-equal their JSON form and serialise the same. */
function compact<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, member]) => member !== undefined)) as T;
}

/** The customer's id: their wa_id, or the business-scoped user id of a user who hides their number. */
export const senderOf = (message: MetaMessage): string => message.from ?? message.from_user_id ?? '';
