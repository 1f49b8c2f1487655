/**
 * Message content as PyTake keeps it: one shape per WhatsApp message type, normalised from Meta's
 * webhook payloads (inbound) or given by agents and bots (outbound). Event data, read models and the
 * Graph API client all speak these shapes; Meta's own field names stay at the edges.
 */

export type MediaKind = 'image' | 'audio' | 'video' | 'document' | 'sticker';

/** An inbound media item is a Meta media id; an outbound one is a public URL. */
export type Media = {
  id?: string;
  url?: string;
  mimeType?: string;
  sha256?: string;
  caption?: string;
  filename?: string;
  /** Audio recorded as a voice note. */
  voice?: boolean;
  /** Animated sticker. */
  animated?: boolean;
};

export type Location = { latitude: number; longitude: number; name?: string; address?: string; url?: string };

export type InboundContent =
  | { type: 'text'; text: string }
  | { type: MediaKind; media: Media }
  | { type: 'location'; location: Location }
  /** Contact cards exactly as Meta sent them (names, phones, emails, addresses, org, urls, birthday). */
  | { type: 'contacts'; contacts: unknown[] }
  | {
      type: 'interactive';
      interactive:
        | { kind: 'button_reply'; id: string; title: string }
        | { kind: 'list_reply'; id: string; title: string; description?: string }
        /** A WhatsApp Flow's answer: its JSON string, kept unparsed as Meta sends it. */
        | { kind: 'nfm_reply'; name?: string; body?: string; responseJson: string };
    }
  /** A quick-reply button of a template. */
  | { type: 'button'; button: { text: string; payload: string } }
  /** `emoji: null` removes the reaction. */
  | { type: 'reaction'; reaction: { waMessageId: string; emoji: string | null } }
  | {
      type: 'order';
      order: {
        catalogId: string;
        text?: string;
        items: { productRetailerId: string; quantity: number; itemPrice: number; currency: string }[];
      };
    }
  /** `customer_changed_number` and the like. */
  | { type: 'system'; system: { kind: string; body: string; waId?: string; newWaId?: string } }
  /** The customer opened the chat for the first time (no text yet). */
  | { type: 'request_welcome' }
  /** A type Meta does not support, or one PyTake does not know yet: the raw message is kept. */
  | { type: 'unsupported'; unsupported: { originalType: string; errors?: MetaError[]; raw: unknown } };

export type MetaError = { code: number; title: string; message?: string; details?: string };

/** What agents and bots send. Templates are the only kind allowed outside the 24-hour window. */
export type OutboundContent =
  | { type: 'text'; text: string; previewUrl?: boolean }
  | { type: MediaKind; media: { url: string; caption?: string; filename?: string } }
  | {
      type: 'template';
      template: { name: string; language: string; components?: unknown[] };
    }
  /** Meta's `interactive` object as is (button, list, cta_url): the schema bounds it. */
  | { type: 'interactive'; interactive: Record<string, unknown> };

/** A one-line preview for inboxes and logs. */
export type MessageType = InboundContent['type'] | OutboundContent['type'];
