/**
 * Meta's WhatsApp Cloud API webhook body, with Meta's field names, as `schemas/whatsapp/webhook.json`
 * admits it. Only what the schema checks is typed; Meta adds fields over time and they pass through.
 * These types hold only after validation: nothing here checks anything.
 */

export type MetaWebhookBody = {
  object: 'whatsapp_business_account';
  entry: MetaEntry[];
};

/** One WhatsApp Business Account's changes; `id` is the WABA id. */
export type MetaEntry = { id: string; changes: MetaChange[] };

/** A change of any subscribed field; only `messages` changes are read (see `isMessagesChange`). */
export type MetaChange = { field: string; value: unknown };

export type MetaMessagesChange = { field: 'messages'; value: MetaMessagesValue };

export const isMessagesChange = (change: MetaChange): change is MetaMessagesChange =>
  change.field === 'messages';

/** What one business phone number received, or learnt about what it sent. */
export type MetaMessagesValue = {
  messaging_product: 'whatsapp';
  metadata: { display_phone_number: string; phone_number_id: string };
  contacts?: MetaContact[];
  messages?: MetaMessage[];
  statuses?: MetaStatus[];
  errors?: MetaErrorObject[];
};

/** `wa_id` is absent when Meta withholds the user's phone number; `user_id` then names them. */
export type MetaContact = { wa_id?: string; user_id?: string; profile?: { name?: string } };

export type MetaErrorObject = {
  code: number;
  title: string;
  message?: string;
  error_data?: { details?: string };
  href?: string;
};

export type MetaMedia = {
  id: string;
  mime_type?: string;
  sha256?: string;
  caption?: string;
  /** Documents. */
  filename?: string;
  /** Audio recorded as a voice note. */
  voice?: boolean;
  /** Stickers. */
  animated?: boolean;
};

export type MetaContext = {
  from?: string;
  id?: string;
  forwarded?: boolean;
  frequently_forwarded?: boolean;
  referred_product?: { catalog_id: string; product_retailer_id: string };
};

export type MetaInteractive = {
  type: string;
  button_reply?: { id: string; title: string };
  list_reply?: { id: string; title: string; description?: string };
  nfm_reply?: { name?: string; body?: string; response_json: string };
};

export type MetaOrderItem = {
  product_retailer_id: string;
  /** A number; the schema lets a numeric string through too. */
  quantity: number | string;
  item_price: number | string;
  currency: string;
};

/**
 * An inbound message. `type` is a string, not a union, because Meta adds types; the sub-object named
 * by a known type is present (the schema requires it) but typed optional, since TypeScript cannot tie
 * it to `type`.
 */
export type MetaMessage = {
  id: string;
  /** One of the two is present: `from_user_id` replaces `from` for users who hide their number. */
  from?: string;
  from_user_id?: string;
  /** Unix seconds, as a string. */
  timestamp: string;
  type: string;
  context?: MetaContext;
  referral?: Record<string, unknown>;
  errors?: MetaErrorObject[];
  text?: { body: string };
  image?: MetaMedia;
  audio?: MetaMedia;
  video?: MetaMedia;
  document?: MetaMedia;
  sticker?: MetaMedia;
  location?: { latitude: number; longitude: number; name?: string; address?: string; url?: string };
  /** Contact cards as Meta sends them. */
  contacts?: Record<string, unknown>[];
  interactive?: MetaInteractive;
  button?: { text: string; payload: string };
  /** `emoji` absent or empty: the reaction was removed. */
  reaction?: { message_id: string; emoji?: string };
  order?: { catalog_id: string; text?: string; product_items: MetaOrderItem[] };
  system?: {
    body: string;
    type: string;
    wa_id?: string;
    new_wa_id?: string;
    customer?: string;
    identity?: string;
  };
  unsupported?: Record<string, unknown>;
};

/** The status of a message PyTake sent; `status` may be one Meta added after this was written. */
export type MetaStatus = {
  id: string;
  status: string;
  /** Unix seconds, as a string. */
  timestamp: string;
  recipient_id: string;
  errors?: MetaErrorObject[];
  conversation?: Record<string, unknown>;
  pricing?: Record<string, unknown>;
  biz_opaque_callback_data?: string;
};
