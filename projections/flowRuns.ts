import { sql } from 'slonik';
import { conversationEventOf } from '../src/conversation/conversationEvents.ts';
import { jsonb } from '../src/db/jsonb.ts';
import { type RecordedEvent, streamId } from '../src/eventstore/eventStore.ts';
import { eachEvent, type Projection } from '../src/projection/projection.ts';
import { createTenantTable } from '../src/projection/tenantTable.ts';

/**
 * Chatbot runs, for people and for the flow worker. `rm.bot_runs` keeps every run of every
 * conversation: its flow version, where it stands or why it ended. `scheduling.flow_work` holds what
 * a waiting run needs done off the actor's turn — a question's timeout, or an API call to make —
 * one row per conversation at most, replaced as the run moves and gone when it ends.
 */
export const flowRunsProjection: Projection<'runs' | 'work'> = {
  name: 'flow-runs',
  version: 1,
  tables: { runs: 'rm.bot_runs', work: 'scheduling.flow_work' },
  async createTables(tx, t) {
    await createTenantTable(
      tx,
      t.runs,
      sql.fragment`
      organization_id uuid NOT NULL, conversation_id uuid NOT NULL, run_id uuid NOT NULL,
      chatbot_id uuid, flow_id uuid NOT NULL, version integer NOT NULL, trigger jsonb NOT NULL,
      status text NOT NULL, turn integer NOT NULL, steps integer NOT NULL, node_id text,
      waiting jsonb, variables jsonb NOT NULL, reason text, detail text,
      started_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, ended_at timestamptz,
      PRIMARY KEY (organization_id, conversation_id, run_id)`,
    );
    await tx.query(sql.unsafe`CREATE INDEX ON ${t.runs} (organization_id, conversation_id, started_at DESC)`);
    await tx.query(sql.unsafe`
      CREATE TABLE ${t.work} (
        conversation_id uuid PRIMARY KEY, organization_id uuid NOT NULL, run_id uuid NOT NULL,
        turn integer NOT NULL, kind text NOT NULL, due_at timestamptz NOT NULL, request_id uuid, request jsonb)`);
    await tx.query(sql.unsafe`CREATE INDEX ON ${t.work} (due_at)`);
  },
  eventTypes: ['FlowRunStarted', 'FlowAdvanced', 'FlowEnded'],
  applyBatch: eachEvent(async (tx, recorded, { tables: t }) => {
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
  }),
};
