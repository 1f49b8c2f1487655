/**
 * The one error catalogue. Each code is stable (clients and docs rely on it) and maps to an HTTP
 * status and a title; over WebSocket the same code goes into the `error` frame. A test checks that
 * every code here is documented in docs/errors.md.
 */
export const errorCatalogue = {
  'http.not_found': { status: 404, title: 'Not found' },
  'http.method_not_allowed': { status: 405, title: 'Method not allowed' },
  'http.body_too_large': { status: 413, title: 'Request body too large' },
  'http.unsupported_media_type': { status: 415, title: 'Unsupported media type' },
  'http.malformed_json': { status: 400, title: 'Malformed JSON body' },
  'http.validation_failed': { status: 422, title: 'Request does not match its schema' },
  'http.invalid_query': { status: 400, title: 'Invalid query string parameter' },
  'http.shutting_down': { status: 503, title: 'Server is shutting down' },
  'internal.unexpected': { status: 500, title: 'Internal server error' },
  'service.unavailable': { status: 503, title: 'Service temporarily unavailable' },
  'eventstore.wrong_expected_revision': { status: 409, title: 'Stream is not at the expected revision' },
  'eventstore.invalid_event': { status: 422, title: 'Event does not match its schema' },
  'eventstore.unknown_position': { status: 422, title: 'No event at that position' },
  'eventstore.duplicate_event_id': { status: 409, title: 'Event id already used in another stream' },
  'eventstore.unavailable': { status: 503, title: 'Event store unavailable' },
  'auth.invalid_credentials': { status: 401, title: 'Invalid email or password' },
  'auth.token_expired': { status: 401, title: 'Access token expired' },
  'auth.token_invalid': { status: 401, title: 'Access token invalid' },
  'auth.rate_limited': { status: 429, title: 'Too many failed attempts' },
  'auth.refresh_reused': { status: 401, title: 'Refresh token already used; its session is revoked' },
  'auth.missing_token': { status: 401, title: 'Authentication required' },
  'auth.forbidden': { status: 403, title: 'Not permitted' },
  'identity.signup_disabled': { status: 403, title: 'Sign-up is disabled' },
  'identity.email_taken': { status: 409, title: 'Email already in use' },
  'identity.phone_number_taken': { status: 409, title: 'Phone number already connected' },
  'identity.role_name_taken': { status: 409, title: 'Role name already in use' },
  'identity.invalid_reference': { status: 422, title: 'A referenced resource does not exist' },
  'identity.channel_not_verified': {
    status: 422,
    title: 'The access token cannot read this phone number on the Graph API',
  },
  // The contract names this code as it is, without a prefix: clients match on it.
  outside_customer_service_window: {
    status: 422,
    title: 'Outside the 24-hour customer-service window: only a template can be sent',
  },
  'flow.invalid_definition': { status: 422, title: 'The flow definition does not hold together' },
  'flow.not_published': { status: 422, title: 'The flow has no published version' },
  'actor.mailbox_full': { status: 503, title: 'Conversation busy; retry shortly' },
  // WebSocket frames (GET /ws); the contract names the first two as they are, without a prefix.
  invalid_frame: { status: 400, title: 'WebSocket frame is not valid JSON or does not match its schema' },
  forbidden: { status: 403, title: 'Topic not visible to the caller' },
  'realtime.resume_too_far': { status: 410, title: 'Too many events missed to resume from that position' },
  'whatsapp.bad_signature': { status: 401, title: 'Missing or invalid X-Hub-Signature-256' },
  'whatsapp.invalid_payload': { status: 400, title: 'Webhook body is not a WhatsApp Cloud API payload' },
  'whatsapp.verify_token_mismatch': { status: 403, title: 'Verify token does not match' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof errorCatalogue;

/**
 * A field-level problem, `path` being a JSON pointer into the offending document (and for a flow
 * definition, the node at fault).
 */
export type FieldError = { path: string; message: string; nodeId?: string };

/** An expected failure with a stable code. Anything thrown that is not an AppError is a bug (500). */
export class AppError extends Error {
  override name = 'AppError';
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    detail?: string,
    readonly errors: FieldError[] = [],
    /** Extra response headers, e.g. Retry-After on a retryable 503. */
    readonly headers: Record<string, string> = {},
  ) {
    super(detail ?? errorCatalogue[code].title);
    this.status = errorCatalogue[code].status;
  }
}
