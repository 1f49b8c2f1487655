import type { MetaError, OutboundContent } from '../conversation/messageContent.ts';

export type GraphClientOptions = { baseUrl: string; version: string; timeoutMs: number };

export type SendRequest = {
  phoneNumberId: string;
  accessToken: string;
  /** The customer's WhatsApp id (phone number, digits only). */
  to: string;
  content: OutboundContent;
  /** wamid of the message this one replies to. */
  replyTo?: string;
  /** Meta's `biz_opaque_callback_data` (at most 512 characters, bounded by the schema): echoed in status webhooks. */
  callbackData?: string;
};

export type SendOutcome =
  | { ok: true; waMessageId: string }
  | {
      ok: false;
      retryable: boolean;
      error: MetaError;
      retryAfterMs?: number;
      /** The request may have reached Meta (a timeout, a cut connection): a retry could send it twice. */
      inDoubt?: boolean;
    };

export type PhoneNumberOutcome =
  | { ok: true; displayPhoneNumber?: string }
  | { ok: false; retryable: boolean; error: MetaError };

export type GraphClient = {
  sendMessage(request: SendRequest, signal?: AbortSignal): Promise<SendOutcome>;
  /** Reads a phone number with this token: proof that the token's business controls that number. */
  phoneNumber(phoneNumberId: string, accessToken: string): Promise<PhoneNumberOutcome>;
};

/** The body of `POST /{version}/{phone-number-id}/messages` for one message. */
export function graphRequestBody(request: SendRequest): Record<string, unknown> {
  const { content } = request;
  return {
    messaging_product: 'whatsapp',
    recipient_type: 'individual',
    to: request.to,
    ...(request.replyTo === undefined ? {} : { context: { message_id: request.replyTo } }),
    ...(request.callbackData === undefined ? {} : { biz_opaque_callback_data: request.callbackData }),
    type: content.type,
    [content.type]: typeObject(content),
  };
}

function typeObject(content: OutboundContent): Record<string, unknown> {
  switch (content.type) {
    case 'text':
      return content.previewUrl === undefined
        ? { body: content.text }
        : { body: content.text, preview_url: content.previewUrl };
    case 'image':
    case 'video':
    case 'document':
    case 'audio':
    case 'sticker': {
      const { url, caption, filename } = content.media;
      // Meta takes a caption on images, videos and documents only, and a file name on documents only.
      const captioned = content.type === 'image' || content.type === 'video' || content.type === 'document';
      return {
        link: url,
        ...(captioned && caption !== undefined ? { caption } : {}),
        ...(content.type === 'document' && filename !== undefined ? { filename } : {}),
      };
    }
    case 'template': {
      const { name, language, components } = content.template;
      return { name, language: { code: language }, ...(components === undefined ? {} : { components }) };
    }
    case 'interactive':
      return content.interactive;
    default: {
      const unknown: never = content;
      throw new Error(`unknown outbound content ${JSON.stringify(unknown)}`);
    }
  }
}

/**
 * Worth retrying later, whatever the HTTP status: Graph's transient codes (1 unknown, 2 service,
 * 4/17/341 app and user call limits), WhatsApp throughput (80007 account, 130429 phone number, 131056
 * per-recipient pair), 131000 "something went wrong" (Meta's catch-all, returned as a 500) and
 * 131016 service unavailable.
 */
const retryableCodes = new Set([1, 2, 4, 17, 341, 80007, 130429, 131000, 131016, 131056]);

/**
 * Never worth retrying as is, even when Meta answers with a 5xx (code 3 comes as a 500). 131048 (spam
 * rate limit) and 131049 (ecosystem engagement) are throttles too, but Meta lifts them on quality, not
 * time: retrying only adds sends that hurt the number's rating, so someone has to look. 368 (blocked for
 * policy violations) and 131031 (account locked) likewise wait for a human, not a backoff.
 */
const permanentCodes = new Set([
  3, 10, 100, 190, 368, 131008, 131009, 131021, 131026, 131031, 131042, 131045, 131047, 131048, 131049,
  131050, 131051, 131052, 131053,
]);

function isPermanentCode(code: number): boolean {
  return (
    permanentCodes.has(code) ||
    (code >= 200 && code <= 299) /* permissions */ ||
    (code >= 132000 && code <= 132069) /* templates */
  );
}

/** Meta's `code` decides when it is known; otherwise the HTTP status does. */
export function classifyGraphError(httpStatus: number, error: MetaError | undefined): { retryable: boolean } {
  if (error !== undefined) {
    if (retryableCodes.has(error.code)) return { retryable: true };
    if (isPermanentCode(error.code)) return { retryable: false };
  }
  // 408 is a timeout on Meta's side or a proxy's, like our own.
  return { retryable: httpStatus >= 500 || httpStatus === 429 || httpStatus === 408 };
}

export function createGraphClient(options: GraphClientOptions): GraphClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');

  return {
    async phoneNumber(phoneNumberId, accessToken) {
      const url = `${baseUrl}/${options.version}/${encodeURIComponent(phoneNumberId)}?fields=id,display_phone_number`;
      let response: Response;
      let text: string;
      try {
        response = await fetch(url, {
          headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' },
          signal: AbortSignal.timeout(options.timeoutMs),
        });
        text = await response.text();
      } catch {
        return {
          ok: false,
          retryable: true,
          error: { code: 0, title: 'The Graph API could not be reached' },
        };
      }
      const json = parseJson(text);
      if (response.ok && isRecord(json) && json.id === phoneNumberId) {
        const display = nonEmpty(json.display_phone_number);
        return display === undefined ? { ok: true } : { ok: true, displayPhoneNumber: display };
      }
      const metaError = metaErrorOf(json, accessToken);
      return {
        ok: false,
        ...classifyGraphError(response.status, metaError),
        error: metaError ?? { code: 0, title: `Graph API answered HTTP ${response.status}` },
      };
    },

    async sendMessage(request, signal) {
      const url = `${baseUrl}/${options.version}/${encodeURIComponent(request.phoneNumberId)}/messages`;
      const timeout = AbortSignal.timeout(options.timeoutMs);
      let response: Response;
      let text: string;
      try {
        response = await fetch(url, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${request.accessToken}`,
            'content-type': 'application/json',
            accept: 'application/json',
          },
          body: JSON.stringify(graphRequestBody(request)),
          signal: signal === undefined ? timeout : AbortSignal.any([timeout, signal]),
        });
        text = await response.text();
      } catch (error) {
        // A request cut short may still have reached Meta: retrying can send the message twice, which
        // Meta offers no idempotency key to prevent. Titles are fixed strings, never the error's message.
        if (timeout.aborted) {
          return transportFailure(
            `Graph API request timed out after ${options.timeoutMs} ms`,
            undefined,
            true,
          );
        }
        if (signal?.aborted) return transportFailure('Graph API request aborted', undefined, true);
        // undici wraps every network failure, with its cause; a bare TypeError is a request it refused to
        // build, such as a token a header cannot carry, and retrying would not change it.
        if (error instanceof TypeError && error.cause === undefined) {
          return {
            ok: false,
            retryable: false,
            error: { code: 0, title: 'Graph API request could not be built' },
          };
        }
        const code = errorCode(error);
        // Refused or unresolved: nothing was sent. Anything else may have cut an answered request.
        const neverSent = code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN';
        return transportFailure('Network error reaching the Graph API', code, !neverSent);
      }

      const json = parseJson(text);
      if (response.ok) {
        const waMessageId = messageIdOf(json);
        if (waMessageId !== undefined) return { ok: true, waMessageId };
        return transportFailure(
          `Graph API answered ${response.status} without a message id`,
          undefined,
          true,
        );
      }

      const metaError = metaErrorOf(json, request.accessToken);
      const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'));
      return {
        ok: false,
        ...classifyGraphError(response.status, metaError),
        error: metaError ?? { code: 0, title: `Graph API answered HTTP ${response.status}` },
        ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      };
    },
  };
}

/** No answer from Meta, or none that can be read: code 0, always retryable. */
function transportFailure(title: string, message: string | undefined, inDoubt: boolean): SendOutcome {
  return {
    ok: false,
    retryable: true,
    error: message === undefined ? { code: 0, title } : { code: 0, title, message },
    ...(inDoubt ? { inDoubt } : {}),
  };
}

/** The cause's code, like ECONNRESET or UND_ERR_SOCKET; its message is left out. */
function errorCode(error: unknown): string | undefined {
  const cause = error instanceof Error ? error.cause : undefined;
  const code = isRecord(cause) ? cause.code : undefined;
  return typeof code === 'string' && /^[A-Z_]+$/.test(code) ? code : undefined;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function messageIdOf(json: unknown): string | undefined {
  const messages = isRecord(json) ? json.messages : undefined;
  const first: unknown = Array.isArray(messages) ? messages[0] : undefined;
  const id = isRecord(first) ? first.id : undefined;
  return typeof id === 'string' && id !== '' ? id : undefined;
}

/**
 * Graph errors have no title field: Meta puts it in `message` after the code, as in
 * "(#131047) Re-engagement message". `error_user_title`, when present, is meant for people.
 */
function metaErrorOf(json: unknown, accessToken: string): MetaError | undefined {
  const error = isRecord(json) ? json.error : undefined;
  if (!isRecord(error) || typeof error.code !== 'number') return undefined;
  // Outcomes end up in events and logs: should Meta ever echo the token back, it stops here.
  const redact = (value: string) =>
    accessToken === '' ? value : value.replaceAll(accessToken, '[redacted]');
  const message = nonEmpty(error.message);
  const title =
    nonEmpty(error.error_user_title) ??
    nonEmpty(message?.replace(/^\(#\d+\)\s*/, '')) ??
    nonEmpty(error.type) ??
    `Graph API error ${error.code}`;
  const details = isRecord(error.error_data) ? nonEmpty(error.error_data.details) : undefined;
  // Bounded as schemas/conversation/metaError bounds them, so the outcome always fits its event.
  return {
    code: error.code,
    title: redact(title).slice(0, 1024),
    ...(message === undefined ? {} : { message: redact(message).slice(0, 8192) }),
    ...(details === undefined ? {} : { details: redact(details).slice(0, 8192) }),
  };
}

/** `Retry-After` is either seconds or an HTTP date. */
function parseRetryAfter(header: string | null): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, Math.round(seconds * 1000));
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function nonEmpty(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
