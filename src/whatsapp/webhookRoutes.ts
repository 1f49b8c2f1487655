import { Counter, type Registry } from 'prom-client';
import { type ConversationActors, conversationIdFor } from '../conversation/conversationActor.ts';
import { AppError } from '../errors/catalogue.ts';
import type { HttpRequest, HttpResult, Route } from '../http/route.ts';
import { uuidParam } from '../http/uuidParam.ts';
import type { SchemaRegistry } from '../schemas/schemaRegistry.ts';
import type { Channel, ChannelDirectory } from './channelDirectory.ts';
import { groupWebhook } from './groupWebhook.ts';
import type { MetaWebhookBody } from './webhookPayload.ts';
import { sameSecret, validSignature } from './webhookSignature.ts';

export type WebhookDeps = {
  appSecret: string | undefined;
  verifyToken: string | undefined;
  directory: ChannelDirectory;
  conversations: ConversationActors;
  registry: SchemaRegistry;
  metricsRegistry: Registry;
};

/**
 * Meta's webhooks: the subscription handshake (GET) and deliveries (POST), on the platform app's URL
 * and on each channel's own URL. A delivery is answered 200 only once everything in it is durable.
 */
export function webhookRoutes(deps: WebhookDeps): Route[] {
  const items = new Counter({
    name: 'whatsapp_webhook_items_total',
    help: 'Messages and statuses received in webhooks, by outcome (accepted, unknown_number, foreign_number, unknown_status)',
    labelNames: ['kind', 'outcome'],
    registers: [deps.metricsRegistry],
  });
  const deliveries = new Counter({
    name: 'whatsapp_webhook_deliveries_total',
    help: 'Webhook POSTs by outcome (ok, bad_signature, invalid_payload, failed)',
    labelNames: ['outcome'],
    registers: [deps.metricsRegistry],
  });

  // Children made once: label objects are hashed on every call otherwise, on the ingest path.
  const counted = {
    unknownNumber: items.labels({ kind: 'item', outcome: 'unknown_number' }),
    foreignNumber: items.labels({ kind: 'item', outcome: 'foreign_number' }),
    unknownStatus: items.labels({ kind: 'status', outcome: 'unknown_status' }),
    messages: items.labels({ kind: 'message', outcome: 'accepted' }),
    statuses: items.labels({ kind: 'status', outcome: 'accepted' }),
    ok: deliveries.labels({ outcome: 'ok' }),
  };

  /** 1. Verify the signature. 2. Parse and validate. 3. Group by conversation. 4. Await every append. */
  const receive = async (req: HttpRequest, channel: Channel | undefined): Promise<HttpResult> => {
    const secret = channel ? channel.appSecret : deps.appSecret;
    const raw = req.rawBody();
    if (
      secret === null ||
      secret === undefined ||
      !validSignature(raw, req.headers['x-hub-signature-256'], secret)
    ) {
      deliveries.inc({ outcome: 'bad_signature' });
      throw new AppError('whatsapp.bad_signature');
    }
    const body = parse(raw, deps.registry, () => deliveries.inc({ outcome: 'invalid_payload' }));
    const grouped = await groupWebhook(
      body,
      async (phoneNumberId) => {
        if (channel) return channel.phoneNumberId === phoneNumberId ? channel : 'foreign';
        const owner = await deps.directory.byPhoneNumberId(phoneNumberId);
        if (!owner) return 'unknown';
        // A number with its own Meta app is delivered on its own URL, signed with its own secret.
        return owner.appSecret === null ? owner : 'foreign';
      },
      conversationIdFor,
    );
    if (grouped.errors.length > 0) req.log.warn({ errors: grouped.errors }, 'Meta reported webhook errors');
    counted.unknownNumber.inc(grouped.skipped.unknownNumber);
    counted.foreignNumber.inc(grouped.skipped.foreignNumber);
    counted.unknownStatus.inc(grouped.skipped.unknownStatus);
    try {
      await Promise.all(
        grouped.commands.map(({ organizationId, command }) =>
          deps.conversations.send(command.conversationId, command, {
            organizationId,
            actor: 'meta-webhook',
            correlationId: req.requestId,
          }),
        ),
      );
    } catch (error) {
      // Some appends may have happened: Meta's retry of the whole body repeats them as no-ops.
      deliveries.inc({ outcome: 'failed' });
      if (error instanceof AppError && error.status === 503) throw error;
      req.log.error({ err: error }, 'webhook not recorded; answering 503 so Meta delivers it again');
      throw new AppError(
        'service.unavailable',
        'The webhook could not be recorded; Meta will deliver it again',
        [],
        {
          'retry-after': '5',
        },
      );
    }
    for (const { command } of grouped.commands) {
      counted.messages.inc(command.messages.length);
      counted.statuses.inc(command.statuses.length);
    }
    counted.ok.inc();
    return { status: 200, headers: { 'content-type': 'text/plain' }, body: 'EVENT_RECEIVED' };
  };

  const handshake = async (req: HttpRequest, tokens: () => Promise<string[]>): Promise<HttpResult> => {
    const token = req.query.get('hub.verify_token') ?? '';
    const challenge = req.query.get('hub.challenge') ?? '';
    if (req.query.get('hub.mode') !== 'subscribe' || challenge === '') {
      throw new AppError('whatsapp.verify_token_mismatch', 'Expected hub.mode=subscribe and a hub.challenge');
    }
    const candidates = await tokens();
    // Every candidate is compared, so the time taken does not say which one matched.
    const matches = candidates.map((candidate) => sameSecret(token, candidate)).some(Boolean);
    if (!matches) throw new AppError('whatsapp.verify_token_mismatch');
    return { status: 200, headers: { 'content-type': 'text/plain' }, body: challenge };
  };

  const channelOf = async (req: HttpRequest) => {
    const channel = await deps.directory.byChannelId(uuidParam(req, 'channelId'));
    if (!channel)
      throw new AppError('whatsapp.bad_signature', 'No channel with its own app secret at this URL');
    return channel;
  };

  return [
    {
      access: 'public',
      method: 'GET',
      path: '/webhooks/meta',
      summary: "Meta's subscription handshake for the platform app",
      handler: (req) =>
        handshake(req, async () => [
          ...(deps.verifyToken === undefined ? [] : [deps.verifyToken]),
          ...(await deps.directory.verifyTokens()),
        ]),
    },
    {
      access: 'public',
      method: 'GET',
      path: '/webhooks/meta/:channelId',
      summary: "Meta's subscription handshake for a channel with its own app",
      handler: async (req) => {
        const channel = await deps.directory.byChannelId(uuidParam(req, 'channelId'));
        return handshake(req, async () => (channel?.verifyToken ? [channel.verifyToken] : []));
      },
    },
    {
      access: 'public',
      method: 'POST',
      path: '/webhooks/meta',
      summary: 'WhatsApp Cloud API deliveries signed with the platform app secret (META_APP_SECRET)',
      handler: (req) => receive(req, undefined),
    },
    {
      access: 'public',
      method: 'POST',
      path: '/webhooks/meta/:channelId',
      summary: "WhatsApp Cloud API deliveries signed with the channel's own app secret",
      handler: async (req) => receive(req, await channelOf(req)),
    },
  ];
}

function parse(raw: Buffer, registry: SchemaRegistry, onInvalid: () => void): MetaWebhookBody {
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    onInvalid();
    throw new AppError('whatsapp.invalid_payload', 'The body is not valid JSON');
  }
  const errors = registry.validate('whatsapp/webhook', body);
  if (errors.length > 0) {
    onInvalid();
    throw new AppError('whatsapp.invalid_payload', undefined, errors);
  }
  return body as MetaWebhookBody;
}
