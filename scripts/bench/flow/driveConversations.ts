/**
 * The customers of scripts/bench/flow.ts: each sends its messages one at a time, every message a
 * ReceiveWebhook command awaited before its next, as the webhook route sends them; `inFlight` loops
 * share the conversations, so at most that many turns are in flight at once.
 */
import { performance } from 'node:perf_hooks';
import { type ConversationActors, conversationIdFor } from '../../../src/conversation/conversationActor.ts';
import type { ConversationCommand } from '../../../src/conversation/conversationCommands.ts';
import { startMeter, type Usage } from '../measure.ts';

export type Customer = { conversationId: string; channelId: string; waId: string };

/** `count` customers of one number; `tag` (digits) keeps each group's phone numbers apart. */
export function customersOf(
  organizationId: string,
  channelId: string,
  tag: number,
  count: number,
): Customer[] {
  return Array.from({ length: count }, (_, index) => {
    const waId = `55${String(tag).padStart(2, '0')}9${String(index).padStart(8, '0')}`;
    return { conversationId: conversationIdFor(organizationId, channelId, waId), channelId, waId };
  });
}

/** A webhook with one new text message from `customer`, as groupWebhook builds it. */
export function receiveText(
  customer: Customer,
  m: number,
  text: string,
  sentAt: string,
): Extract<ConversationCommand, { type: 'ReceiveWebhook' }> {
  return {
    type: 'ReceiveWebhook',
    conversationId: customer.conversationId,
    channelId: customer.channelId,
    contact: { waId: customer.waId, name: 'Ana Souza' },
    messages: [
      {
        waMessageId: `wamid.bench.${customer.waId}.${m}`,
        from: customer.waId,
        sentAt,
        content: { type: 'text', text },
      },
    ],
    statuses: [],
  };
}

export type Drive = {
  turns: number;
  /** ms per turn, ascending. */
  latencies: Float64Array;
  usage: Usage;
  failures: number;
  firstFailure: unknown;
};

export async function driveConversations(
  actors: ConversationActors,
  organizationId: string,
  customers: Customer[],
  options: { messages: number; inFlight: number; text: (m: number) => string },
): Promise<Drive> {
  const count = Math.min(options.inFlight, customers.length);
  const loops = Array.from({ length: count }, (_, loop) =>
    customers.filter((_, index) => index % count === loop),
  );
  const latencies = new Float64Array(customers.length * options.messages);
  const context = { organizationId, actor: 'meta-webhook' };
  const start = Date.now();
  let turns = 0;
  let failures = 0;
  let firstFailure: unknown;
  const meter = startMeter();
  await Promise.all(
    loops.map(async (mine) => {
      for (let m = 0; m < options.messages; m += 1) {
        const sentAt = new Date(start + m * 1000).toISOString();
        for (const customer of mine) {
          const command = receiveText(customer, m, options.text(m), sentAt);
          const began = performance.now();
          try {
            await actors.send(customer.conversationId, command, context);
            latencies[turns++] = performance.now() - began;
          } catch (error) {
            failures += 1;
            firstFailure ??= error;
          }
        }
      }
    }),
  );
  const usage = meter();
  return { turns, latencies: latencies.subarray(0, turns).sort(), usage, failures, firstFailure };
}
