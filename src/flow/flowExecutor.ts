import { deterministicId } from '../eventsourcing/deterministicId.ts';
import type { Value } from './expression.ts';
import type { FlowDefinition, FlowNode } from './flowDefinition.ts';
import type { BotEnvironment, FlowInput, FlowRef, FlowRun, FlowTurn, Step } from './flowRun.ts';
import { flowLookup } from './flowScope.ts';
import { interpolate } from './interpolate.ts';
import { executorFor } from './nodes/index.ts';
import type { NodeContext, NodeOutcome } from './nodes/nodeExecutor.ts';

type Stop = Extract<FlowTurn['outcome'], { kind: 'stop' }>;

/**
 * Runs a flow from where `run` stands until it must wait (an answer, an API result) or stops: it
 * enters nodes one after another, each node's executor saying what to send, what to set and where
 * to go. Pure: the definitions, the clock and the contact come in `env`; ids derive from the run and
 * its turn. More than `env.maxSteps` nodes in one turn (a loop, even across `jump_to_flow`) stops the
 * run for a human.
 */
export function runFlow(
  run: FlowRun,
  input: FlowInput,
  env: BotEnvironment,
  messageText: string | null,
): FlowTurn {
  const variables: Record<string, Value> = { ...run.variables };
  const turn: FlowTurn = { steps: [], messages: [], set: {}, flow: run.flow, outcome: { kind: 'end' } };
  let ids = 0;
  // One context for the whole turn: a step costs a few microseconds, and building closures per node
  // was a good part of them.
  const lookup = flowLookup(variables, env, messageText);
  const context: NodeContext = {
    env,
    lookup,
    render: (template) => interpolate(template, lookup),
    send: (content) => turn.messages.push(content),
    set: (name, value) => {
      variables[name] = value;
      turn.set[name] = value;
    },
    newId: () => deterministicId(`${run.runId}/${run.turn + 1}/${ids++}`),
  };
  const finish = (outcome: FlowTurn['outcome']) => {
    turn.outcome = outcome;
    return turn;
  };

  let flow = run.flow;
  let definition = env.definition(flow);
  if (!definition)
    return finish(stop('flow_unavailable', `flow ${flow.flowId} version ${flow.version} is not available`));
  let outcome: NodeOutcome;
  if (input.kind === 'start') {
    outcome = { kind: 'next', to: definition.start };
  } else {
    const waiting = run.waiting;
    const node = waiting && nodeOf(definition, waiting.nodeId);
    if (!waiting || !node)
      return finish(stop('flow_unavailable', `nothing in flow ${flow.flowId} waits for this`));
    turn.steps.push(step(flow, node));
    outcome = attempt(
      () =>
        executorFor(node).resume?.(node as never, waiting, input, context) ?? {
          kind: 'next',
          to: node.next,
        },
    );
  }

  for (;;) {
    switch (outcome.kind) {
      case 'wait':
      case 'stop':
        turn.flow = flow;
        return finish(outcome);
      case 'jump': {
        const version = env.published(outcome.flowId);
        const target = version === undefined ? undefined : { flowId: outcome.flowId, version };
        const next = target && env.definition(target);
        if (!target || !next)
          return finish(stop('flow_unavailable', `flow ${outcome.flowId} has no published version`));
        flow = target;
        definition = next;
        outcome = { kind: 'next', to: next.start };
        break;
      }
      case 'next': {
        turn.flow = flow;
        if (outcome.to === undefined) return finish({ kind: 'end' });
        const node = nodeOf(definition, outcome.to);
        if (!node) return finish(stop('flow_unavailable', `flow ${flow.flowId} has no node '${outcome.to}'`));
        if (turn.steps.length >= env.maxSteps) {
          return finish(
            stop(
              'step_limit',
              `more than ${env.maxSteps} steps in one turn (FLOW_MAX_STEPS): stopped before node '${node.id}' of flow ${flow.flowId}`,
            ),
          );
        }
        turn.steps.push(step(flow, node));
        outcome = attempt(() => executorFor(node).enter(node as never, context));
        break;
      }
      default:
        return unknownOutcome(outcome);
    }
  }
}

const stop = (reason: Stop['reason'], detail: string): Stop => ({
  kind: 'stop',
  reason,
  detail,
  queueId: null,
  assigneeId: null,
});

/** A node that throws (a definition that slipped past validation) stops the run rather than the actor. */
function attempt(run: () => NodeOutcome): NodeOutcome {
  try {
    return run();
  } catch (error) {
    return stop('error', error instanceof Error ? error.message : String(error));
  }
}

const step = (flow: FlowRef, node: FlowNode): Step => ({ ...flow, nodeId: node.id, type: node.type });

const indexes = new WeakMap<FlowDefinition, Map<string, FlowNode>>();

function nodeOf(definition: FlowDefinition, id: string): FlowNode | undefined {
  let index = indexes.get(definition);
  if (!index) {
    index = new Map(definition.nodes.map((node) => [node.id, node]));
    indexes.set(definition, index);
  }
  return index.get(id);
}

const unknownOutcome = (outcome: never): never => {
  throw new Error(`unknown node outcome ${JSON.stringify(outcome)}`);
};
