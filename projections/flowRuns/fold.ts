import { conversationEventOf } from '../../src/conversation/conversationEvents.ts';
import { type RecordedEvent, streamId } from '../../src/eventstore/eventStore.ts';
import type { Value } from '../../src/flow/expression.ts';
import type { Waiting } from '../../src/flow/flowRun.ts';
import { RowChanges, rowKey } from '../../src/projection/rowChanges.ts';

/**
 * The flow-runs projection's batch, folded in memory as the per-event SQL of its first version applied
 * it. A turn applies only past the run's stored turn, so the fold starts from the stored turns of the
 * runs the batch advances or ends (a run it only starts needs none: its insert ignores a row already
 * there). Work rows need nothing read: a turn replaces its conversation's row, and an end clears a
 * stored row only if it belongs to the run that ended, which the delete itself checks.
 */
export type RunRow = {
  organization_id: string;
  conversation_id: string;
  run_id: string;
  chatbot_id: string | null;
  flow_id: string;
  version: number;
  trigger: unknown;
  status: string;
  turn: number;
  steps: number;
  node_id: string | null;
  waiting: Waiting | null;
  variables: Record<string, Value>;
  reason: string | null;
  detail: string | null;
  started_at: string;
  updated_at: string;
  ended_at: string | null;
};

/** What the batch does to a run's row once it stands, on top of what the row holds. */
export type RunChange = Pick<RunRow, 'organization_id' | 'conversation_id' | 'run_id' | 'updated_at'> & {
  /** The last turn taken, with the flow and version it left the run in; null: no turn. */
  turn: number | null;
  flow_id: string | null;
  version: number | null;
  /** Steps added, the last node reached (null: none), variables set (over the stored ones). */
  steps: number;
  node_id: string | null;
  variables: Record<string, Value>;
  waiting_set: boolean;
  waiting: Waiting | null;
  ended: boolean;
  reason: string | null;
  detail: string | null;
  ended_at: string | null;
};

type WorkRow = {
  conversation_id: string;
  organization_id: string;
  run_id: string;
  turn: number;
  kind: 'timeout' | 'api_call';
  due_at: string;
  request_id: string | null;
  request: unknown;
};

export type RunKey = Pick<RunRow, 'organization_id' | 'conversation_id' | 'run_id'>;

export type FlowRunsChanges = {
  newRuns: RowChanges<RunRow>;
  runChanges: RunChange[];
  /** Stored work rows the batch's ends delete (a conversation's row, if it is that run's). */
  clearedWork: { conversation_id: string; run_id: string }[];
  work: RowChanges<WorkRow>;
};

export const runKey = (run: RunKey) => rowKey(run.organization_id, run.conversation_id, run.run_id);

/** The runs whose stored turns the batch reads first: those it advances or ends. */
export function runsOf(events: readonly RecordedEvent[]): RunKey[] {
  const runs = new Map<string, RunKey>();
  for (const recorded of events) {
    if (recorded.type !== 'FlowAdvanced' && recorded.type !== 'FlowEnded') continue;
    const run = keyOf(recorded);
    runs.set(runKey(run), run);
  }
  return [...runs.values()];
}

const keyOf = (recorded: RecordedEvent): RunKey => ({
  organization_id: recorded.metadata.organizationId,
  conversation_id: streamId(recorded.streamName),
  run_id: (recorded.data as { runId: string }).runId,
});

/** `storedTurns`: the turns of the stored runs by runKey (a run absent has no row). */
export function foldFlowRuns(
  events: readonly RecordedEvent[],
  storedTurns: ReadonlyMap<string, number>,
): FlowRunsChanges {
  const changes: FlowRunsChanges = {
    newRuns: new RowChanges<RunRow>(['organization_id', 'conversation_id', 'run_id']),
    runChanges: [],
    clearedWork: [],
    work: new RowChanges<WorkRow>(['conversation_id']),
  };
  const runs = new Map<string, { turn: number | null; change: RunChange | null }>();
  /** The run of each conversation's work row as the batch left it (null: none); absent: as stored. */
  const workRuns = new Map<string, string | null>();
  for (const recorded of events) {
    const event = conversationEventOf(recorded);
    const at = recorded.metadata.occurredAt;
    if (event.type !== 'FlowRunStarted' && event.type !== 'FlowAdvanced' && event.type !== 'FlowEnded')
      continue;
    const key = keyOf(recorded);
    const run = runs.get(runKey(key)) ?? { turn: storedTurns.get(runKey(key)) ?? null, change: null };
    runs.set(runKey(key), run);
    const changeOf = () => {
      run.change ??= { ...key, ...unchanged, updated_at: at, variables: {} };
      run.change.updated_at = at;
      return run.change;
    };
    const conversation = { conversation_id: key.conversation_id };
    const conversationKey = rowKey(key.conversation_id);
    switch (event.type) {
      case 'FlowRunStarted': {
        if (run.turn !== null) break;
        const d = event.data;
        changes.newRuns.create({
          ...key,
          chatbot_id: d.chatbotId,
          flow_id: d.flowId,
          version: d.version,
          trigger: d.trigger,
          status: 'running',
          turn: 0,
          steps: 0,
          node_id: null,
          waiting: null,
          variables: {},
          reason: null,
          detail: null,
          started_at: at,
          updated_at: at,
          ended_at: null,
        });
        run.turn = 0;
        break;
      }
      case 'FlowAdvanced': {
        const d = event.data;
        if (run.turn !== null && run.turn < d.turn) {
          run.turn = d.turn;
          const change = changeOf();
          change.turn = d.turn;
          change.flow_id = d.flowId;
          change.version = d.version;
          change.steps += d.steps.length;
          change.node_id = d.steps.at(-1)?.nodeId ?? change.node_id;
          change.waiting_set = true;
          change.waiting = d.waiting;
          change.variables = { ...change.variables, ...d.set };
        }
        // Even a stale turn replaces the conversation's work, as it always has.
        changes.work.delete(conversation);
        const row = workRow(key, d.turn, d.waiting, at);
        if (row) changes.work.create(row);
        workRuns.set(conversationKey, row?.run_id ?? null);
        break;
      }
      case 'FlowEnded': {
        const d = event.data;
        if (run.turn !== null) {
          Object.assign(changeOf(), {
            waiting_set: true,
            waiting: null,
            ended: true,
            reason: d.reason,
            detail: d.detail,
            ended_at: at,
          });
        }
        const workRun = workRuns.get(conversationKey);
        if (workRun === undefined) {
          changes.clearedWork.push({ ...conversation, run_id: d.runId });
        } else if (workRun !== null && rowKey(workRun) === rowKey(d.runId)) {
          changes.work.delete(conversation);
          workRuns.set(conversationKey, null);
        }
        break;
      }
    }
  }
  for (const run of runs.values()) if (run.change) changes.runChanges.push(run.change);
  return changes;
}

const unchanged = {
  turn: null,
  flow_id: null,
  version: null,
  steps: 0,
  node_id: null,
  waiting_set: false,
  waiting: null,
  ended: false,
  reason: null,
  detail: null,
  ended_at: null,
} as const;

/** The work a turn leaves: its question's timeout, or its API call (due at once); none otherwise. */
function workRow(run: RunKey, turn: number, waiting: Waiting | null, at: string): WorkRow | null {
  const row = {
    conversation_id: run.conversation_id,
    organization_id: run.organization_id,
    run_id: run.run_id,
    turn,
  };
  if (waiting?.kind === 'answer' && waiting.timeoutAt !== null) {
    return { ...row, kind: 'timeout', due_at: waiting.timeoutAt, request_id: null, request: null };
  }
  if (waiting?.kind === 'api') {
    return { ...row, kind: 'api_call', due_at: at, request_id: waiting.requestId, request: waiting.request };
  }
  return null;
}
