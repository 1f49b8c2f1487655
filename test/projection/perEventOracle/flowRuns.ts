import { sql } from 'slonik';
import { flowRunsProjection } from '../../../projections/flowRuns.ts';
import { conversationEventOf } from '../../../src/conversation/conversationEvents.ts';
import { jsonb } from '../../../src/db/jsonb.ts';
import { streamId } from '../../../src/eventstore/eventStore.ts';
import { perEvent } from './perEvent.ts';

/**
 * The flow-runs projection as it was before it became set-based (projection version 1, one event at a
 * time, a statement or two each), kept here only as the reference the set-based projection is checked
 * against (setBasedProjections.int.test.ts). Not used by the server.
 */
export const flowRunsPerEvent = perEvent(flowRunsProjection, async (tx, recorded, { tables: t }) => {
  const event = conversationEventOf(recorded);
  const organizationId = recorded.metadata.organizationId;
  const conversationId = streamId(recorded.streamName);
  const at = recorded.metadata.occurredAt;
  const run = sql.fragment`organization_id = ${organizationId} AND conversation_id = ${conversationId}`;
  switch (event.type) {
    case 'FlowRunStarted': {
      const d = event.data;
      await tx.query(sql.unsafe`
        INSERT INTO ${t.runs} (organization_id, conversation_id, run_id, chatbot_id, flow_id, version, trigger,
                               status, turn, steps, variables, started_at, updated_at)
        VALUES (${organizationId}, ${conversationId}, ${d.runId}, ${d.chatbotId}, ${d.flowId}, ${d.version},
                ${jsonb(d.trigger)}, 'running', 0, 0, '{}', ${at}, ${at})
        ON CONFLICT DO NOTHING`);
      return;
    }
    case 'FlowAdvanced': {
      const d = event.data;
      const last = d.steps.at(-1);
      await tx.query(sql.unsafe`
        UPDATE ${t.runs} SET turn = ${d.turn}, flow_id = ${d.flowId}, version = ${d.version},
               steps = steps + ${d.steps.length}, node_id = coalesce(${last?.nodeId ?? null}, node_id),
               waiting = ${d.waiting === null ? null : jsonb(d.waiting)},
               variables = variables || ${jsonb(d.set)}, updated_at = ${at}
         WHERE ${run} AND run_id = ${d.runId} AND turn < ${d.turn}`);
      await tx.query(sql.unsafe`DELETE FROM ${t.work} WHERE conversation_id = ${conversationId}`);
      const waiting = d.waiting;
      if (waiting?.kind === 'answer' && waiting.timeoutAt !== null) {
        await tx.query(sql.unsafe`
          INSERT INTO ${t.work} (conversation_id, organization_id, run_id, turn, kind, due_at)
          VALUES (${conversationId}, ${organizationId}, ${d.runId}, ${d.turn}, 'timeout', ${waiting.timeoutAt})`);
      }
      if (waiting?.kind === 'api') {
        await tx.query(sql.unsafe`
          INSERT INTO ${t.work} (conversation_id, organization_id, run_id, turn, kind, due_at, request_id, request)
          VALUES (${conversationId}, ${organizationId}, ${d.runId}, ${d.turn}, 'api_call', ${at},
                  ${waiting.requestId}, ${jsonb(waiting.request)})`);
      }
      return;
    }
    case 'FlowEnded':
      await tx.query(sql.unsafe`
        UPDATE ${t.runs} SET status = 'ended', waiting = NULL, reason = ${event.data.reason},
               detail = ${event.data.detail}, updated_at = ${at}, ended_at = ${at}
         WHERE ${run} AND run_id = ${event.data.runId}`);
      await tx.query(sql.unsafe`
        DELETE FROM ${t.work} WHERE conversation_id = ${conversationId} AND run_id = ${event.data.runId}`);
      return;
    default:
      return;
  }
});
