/**
 * bench:fanout's load: signed Meta webhooks, one inbound text message each, sent on a fixed schedule
 * (open loop: a slow answer does not delay the next send). Each body is signed before the run with
 * its scheduled send time in the message text, so the client process measures webhook-to-delta
 * latency from when the message was due, lateness of the driver included.
 */
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { signatureHeader, textMessage, webhookBody } from '../../../test/support/metaWebhook.ts';
import { percentile } from '../measure.ts';
import { epochMs, marker } from './protocol.ts';
import type { FanoutConversation } from './tenants.ts';

export type Webhook = { raw: string; signature: string; at: number };

/** Messages `first` … `first + count - 1`, message `seq` to conversation `seq mod n`, `rate` per second. */
export function signedWebhooks(options: {
  conversations: FanoutConversation[];
  first: number;
  count: number;
  rate: number;
  startAt: number;
  secret: string;
  tag: string;
}): Webhook[] {
  const { conversations, first, count, rate, startAt, secret, tag } = options;
  const timestamp = String(Math.floor(startAt / 1000));
  return Array.from({ length: count }, (_, offset) => {
    const seq = first + offset;
    const conversation = conversations[seq % conversations.length] as FanoutConversation;
    const at = startAt + (offset * 1000) / rate;
    const text = `${marker(seq, at)} Olá! Gostaria de saber o status do meu pedido, fiz a compra ontem e ainda não recebi o código de rastreio.`;
    const message = textMessage(conversation.waId, `wamid.HBgMfanout${tag}x${seq}`, text);
    message.timestamp = timestamp;
    const raw = JSON.stringify(
      webhookBody({
        phoneNumberId: conversation.phoneNumberId,
        contacts: [{ waId: conversation.waId, name: conversation.name }],
        messages: [message],
      }),
    );
    return { raw, signature: signatureHeader(raw, secret), at };
  });
}

export type DriveResult = {
  sent: number;
  ok: number;
  /** Answers other than 200, and connection errors, by status or message. */
  failures: Map<string, number>;
  /**
   * How late requests went out against their schedule (ms): when each got its connection and was
   * written, so a request queued for a free connection counts as late, not as a slow answer.
   */
  lateP99Ms: number;
  lateMaxMs: number;
  /** Webhook answer times (ms), from the request written to the answer read. */
  answerP50Ms: number;
  answerP99Ms: number;
};

/**
 * POSTs every webhook at its time over up to `maxSockets` keep-alive connections (at 1,000/s, 1,024
 * of them keep sends on time while answers take up to a second); resolves when all are answered.
 */
export async function drive(base: string, webhooks: Webhook[], maxSockets: number): Promise<DriveResult> {
  const url = new URL('/webhooks/meta', base);
  const agent = new http.Agent({ keepAlive: true, maxSockets });
  const late = new Float64Array(webhooks.length);
  const answers = new Float64Array(webhooks.length);
  const failures = new Map<string, number>();
  const fail = (key: string) => failures.set(key, (failures.get(key) ?? 0) + 1);
  let ok = 0;
  let answered = 0;
  let allAnswered: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    allAnswered = resolve;
  });
  const post = (webhook: Webhook, index: number) => {
    let sentAt = Number.NaN;
    const finish = () => {
      answers[index] = epochMs() - sentAt;
      if (++answered === webhooks.length) allAnswered();
    };
    const request = http.request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(webhook.raw),
          'x-hub-signature-256': webhook.signature,
        },
      },
      (response) => {
        response.resume();
        response.on('end', () => {
          if (response.statusCode === 200) ok += 1;
          else fail(String(response.statusCode));
          finish();
        });
      },
    );
    request.once('socket', () => {
      sentAt = epochMs();
      late[index] = sentAt - webhook.at;
    });
    request.on('error', (error) => {
      fail(error.message);
      finish();
    });
    request.end(webhook.raw);
  };
  let next = 0;
  while (next < webhooks.length) {
    const now = epochMs();
    while (next < webhooks.length && (webhooks[next] as Webhook).at <= now) {
      post(webhooks[next] as Webhook, next);
      next += 1;
    }
    if (next < webhooks.length)
      await sleep(Math.max(0, Math.min(5, (webhooks[next] as Webhook).at - epochMs())));
  }
  if (webhooks.length > 0) await done;
  agent.destroy();
  late.sort();
  answers.sort();
  return {
    sent: webhooks.length,
    ok,
    failures,
    lateP99Ms: percentile(late, 99),
    lateMaxMs: late[late.length - 1] ?? Number.NaN,
    answerP50Ms: percentile(answers, 50),
    answerP99Ms: percentile(answers, 99),
  };
}
