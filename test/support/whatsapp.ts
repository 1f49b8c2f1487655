import assert from 'node:assert/strict';
import { randomInt, randomUUID } from 'node:crypto';
import pg from 'pg';
import { conversationIdFor } from '../../src/conversation/conversationActor.ts';
import type { MetaWebhookBody } from '../../src/whatsapp/webhookPayload.ts';
import type { TestApp } from './app.ts';
import { signatureHeader, textMessage, webhookBody } from './metaWebhook.ts';

export type TestChannel = {
  organizationId: string;
  accessToken: string;
  userId: string;
  channelId: string;
  phoneNumberId: string;
  graphToken: string;
};

/** Signs up an organization and connects one WhatsApp number to it. */
export async function orgWithChannel(
  t: Pick<TestApp, 'request'>,
  label: string,
  channel: { appSecret?: string; verifyToken?: string; sendRatePerSecond?: number } = {},
): Promise<TestChannel> {
  const signup = await t.request('POST', '/api/v1/auth/signup', {
    body: {
      organizationName: `${label} Inc`,
      name: `${label} admin`,
      email: `${label}-${randomUUID().slice(0, 8)}@example.com`,
      password: 'correct horse battery staple',
    },
  });
  assert.equal(signup.status, 201, JSON.stringify(signup.body));
  const phoneNumberId = String(randomInt(1e11, 9e11));
  const graphToken = `EAAG-${randomUUID()}`;
  const created = await t.request('POST', '/api/v1/channels', {
    token: signup.body.accessToken,
    body: {
      name: `${label} line`,
      phoneNumberId,
      displayPhoneNumber: '+1 555 0100',
      wabaId: '102290129340398',
      accessToken: graphToken,
      ...channel,
    },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return {
    organizationId: signup.body.organization.id,
    accessToken: signup.body.accessToken,
    userId: signup.body.user.id,
    channelId: created.body.id,
    phoneNumberId,
    graphToken,
  };
}

/** POSTs a body signed with `secret`, exactly as Meta would. */
export function postWebhook(
  t: Pick<TestApp, 'request'>,
  body: MetaWebhookBody | string,
  secret: string,
  path = '/webhooks/meta',
) {
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  return t.request('POST', path, { raw, headers: { 'x-hub-signature-256': signatureHeader(raw, secret) } });
}

// biome-ignore lint/suspicious/noExplicitAny: tests read event data field by field and assert on it
export type StoredEvent = { stream: string; revision: number; type: string; id: string; data: any };

/** The events of every conversation stream (or of one), in stream order. */
export async function conversationEvents(url: string, stream?: string): Promise<StoredEvent[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<StoredEvent>(
      `SELECT stream_name AS stream, revision::int AS revision, type, event_id AS id, data
         FROM es.events WHERE category = 'conversation' AND ($1::text IS NULL OR stream_name = $1)
        ORDER BY stream_name, revision`,
      [stream ?? null],
    );
    return rows;
  } finally {
    await client.end();
  }
}

/** Polls a conversation's events until `done` holds for them (the sender works in the background). */
export async function waitForEvents(
  url: string,
  stream: string,
  done: (events: StoredEvent[]) => boolean,
  timeoutMs = 15_000,
): Promise<StoredEvent[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const events = await conversationEvents(url, stream);
    if (done(events)) return events;
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting on ${stream}; events: ${events.map((e) => e.type).join(', ')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The types of a conversation's events, in order, without the ones a test does not look at. */
export const typesOf = (events: StoredEvent[], ...ignored: string[]) =>
  events.map((event) => event.type).filter((type) => !ignored.includes(type));

export type TestConversation = { waId: string; id: string; stream: string };

/**
 * A customer writes to the channel's number through a signed webhook (opening the 24-hour window);
 * answers the conversation's id and stream. A new customer (random wa_id) unless one is given.
 */
export async function customerWrites(
  t: Pick<TestApp, 'request'>,
  channel: TestChannel,
  secret: string,
  options: { waId?: string; text?: string; timestampSeconds?: number } = {},
): Promise<TestConversation> {
  const waId = options.waId ?? `1555${randomInt(1e6, 9e6)}`;
  const body = webhookBody({
    phoneNumberId: channel.phoneNumberId,
    messages: [textMessage(waId, `wamid.${randomUUID()}`, options.text ?? 'hello', options.timestampSeconds)],
  });
  const answer = await postWebhook(t, body, secret);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  const id = conversationIdFor(channel.organizationId, channel.channelId, waId);
  return { waId, id, stream: `conversation-${id}` };
}
