/**
 * The CPU ceilings of scripts/bench/flow.ts, in this process, without the actor runtime and without
 * I/O: the customers' same messages fed, turn after turn, to
 *   - the executor alone (runFlow, and the run updated as decideBot's advance updates it);
 *   - the conversation's whole pure turn: decide (the executor inside), the events' envelope, their
 *     schema validation (what the store does in Node before an append), and evolve.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { conversationBehaviour } from '../../../src/conversation/conversationActor.ts';
import { toNewEvents } from '../../../src/eventsourcing/commandHandler.ts';
import { validateEvents } from '../../../src/eventstore/eventValidator.ts';
import type { BotPrepared } from '../../../src/flow/botPreparation.ts';
import type { FlowDefinition } from '../../../src/flow/flowDefinition.ts';
import { runFlow } from '../../../src/flow/flowExecutor.ts';
import type { BotEnvironment, FlowRun } from '../../../src/flow/flowRun.ts';
import type { SchemaRegistry } from '../../../src/schemas/schemaRegistry.ts';
import { startMeter, type Usage } from '../measure.ts';
import { type Customer, receiveText } from './driveConversations.ts';

export type PureRun = { turns: number; steps: number; events: number; usage: Usage };

type Script = { messages: number; text: (m: number) => string; seconds: number };

/** Plays whole conversations (`messages` turns each) until `seconds` have passed. */
function repeat(
  seconds: number,
  conversation: () => { turns: number; steps: number; events: number },
): PureRun {
  const meter = startMeter();
  const deadline = performance.now() + seconds * 1000;
  const total = { turns: 0, steps: 0, events: 0 };
  while (performance.now() < deadline) {
    const played = conversation();
    total.turns += played.turns;
    total.steps += played.steps;
    total.events += played.events;
  }
  return { ...total, usage: meter() };
}

/** runFlow in a tight loop: a new run whenever none is going (the trigger), else the answer. */
export function executorCeiling(flowId: string, definition: FlowDefinition, script: Script): PureRun {
  const env: BotEnvironment = {
    now: new Date().toISOString(),
    maxSteps: 100,
    definition: (ref) => (ref.flowId === flowId && ref.version === 1 ? definition : undefined),
    published: (id) => (id === flowId ? 1 : undefined),
    contact: { name: 'Ana Souza', waId: '5500900000000', attributes: {} },
    businessOpen: null,
  };
  return repeat(script.seconds, () => {
    let run: FlowRun | null = null;
    let steps = 0;
    for (let m = 0; m < script.messages; m += 1) {
      const text = script.text(m);
      const input = run
        ? ({ kind: 'answer', content: { type: 'text', text } } as const)
        : { kind: 'start' as const };
      run ??= {
        runId: randomUUID(),
        chatbotId: null,
        flow: { flowId, version: 1 },
        variables: {},
        waiting: null,
        turn: 0,
        history: [],
      };
      const turn = runFlow(run, input, env, text);
      steps += turn.steps.length;
      // As decideBot's advance keeps the run.
      Object.assign(run.variables, turn.set);
      run.turn += 1;
      run.flow = turn.flow;
      run.waiting = turn.outcome.kind === 'wait' ? turn.outcome.waiting : null;
      if (turn.outcome.kind !== 'wait') run = null;
    }
    return { turns: script.messages, steps, events: 0 };
  });
}

/**
 * The actor's turn without the actor: decide on the state held (with what the bot preparer loaded
 * for the first message, which covers every later turn of these flows), wrap, validate, evolve.
 */
export function turnCeiling(
  organizationId: string,
  channelId: string,
  prepared: BotPrepared,
  registry: SchemaRegistry,
  script: Script,
): PureRun {
  const behaviour = conversationBehaviour();
  const context = { organizationId, actor: 'meta-webhook' };
  const sentAt = new Date().toISOString();
  return repeat(script.seconds, () => {
    const customer: Customer = { conversationId: randomUUID(), channelId, waId: '5500900000000' };
    const streamName = `conversation-${customer.conversationId}`;
    let state = behaviour.initialState();
    let revision = -1n;
    let steps = 0;
    let events = 0;
    for (let m = 0; m < script.messages; m += 1) {
      const command = receiveText(customer, m, script.text(m), sentAt);
      const drafts = behaviour.decide(command, state, context, prepared);
      const appended = toNewEvents(drafts, context);
      validateEvents(registry, appended);
      for (const event of appended) {
        revision += 1n;
        state = behaviour.evolve(state, {
          ...event,
          streamName,
          revision,
          position: 0n,
          recordedAt: new Date(),
        });
        if (event.type === 'FlowAdvanced') steps += (event.data as { steps: unknown[] }).steps.length;
      }
      events += appended.length;
    }
    return { turns: script.messages, steps, events };
  });
}
