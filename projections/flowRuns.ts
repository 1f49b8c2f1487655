import { type DatabaseTransactionConnection, type IdentifierSqlToken, sql } from 'slonik';
import type { Projection } from '../src/projection/projection.ts';
import { inOrganizationsOf, recordset } from '../src/projection/rowChanges.ts';
import { createTenantTable } from '../src/projection/tenantTable.ts';
import {
  type FlowRunsChanges,
  foldFlowRuns,
  type RunChange,
  type RunKey,
  runKey,
  runsOf,
} from './flowRuns/fold.ts';

/**
 * Chatbot runs, for people and for the flow worker. `rm.bot_runs` keeps every run of every
 * conversation: its flow version, where it stands or why it ended. `scheduling.flow_work` holds what
 * a waiting run needs done off the actor's turn — a question's timeout, or an API call to make —
 * one row per conversation at most, replaced as the run moves and gone when it ends. A batch reads the
 * turns of the runs it moves in one statement, is folded in memory (flowRuns/fold.ts) and written with
 * a few statements per table.
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
  async applyBatch(tx, events, { tables: t }) {
    const changes = foldFlowRuns(events, await storedTurns(tx, t.runs, runsOf(events)));
    await changes.newRuns.write(tx, t.runs);
    await updateRuns(tx, t.runs, changes.runChanges);
    // Before the batch's own work rows: the stored rows its ends cleared.
    await clearWork(tx, t.work, changes.clearedWork);
    await changes.work.write(tx, t.work);
  },
};

async function storedTurns(
  tx: DatabaseTransactionConnection,
  runs: IdentifierSqlToken,
  keys: RunKey[],
): Promise<Map<string, number>> {
  if (keys.length === 0) return new Map();
  const rows = (await tx.any(sql.unsafe`
    SELECT r.organization_id, r.conversation_id, r.run_id, r.turn FROM ${runs} AS r
      JOIN ${recordset(keys, sql.fragment`organization_id uuid, conversation_id uuid, run_id uuid`)} AS k
        ON r.organization_id = k.organization_id AND r.conversation_id = k.conversation_id
       AND r.run_id = k.run_id
     WHERE ${inOrganizationsOf('r', keys)}`)) as readonly (RunKey & { turn: number })[];
  return new Map(rows.map((row) => [runKey(row), row.turn]));
}

async function updateRuns(
  tx: DatabaseTransactionConnection,
  runs: IdentifierSqlToken,
  changes: RunChange[],
): Promise<void> {
  if (changes.length === 0) return;
  const columns = sql.fragment`
    organization_id uuid, conversation_id uuid, run_id uuid, turn integer, flow_id uuid, version integer,
    steps integer, node_id text, variables jsonb, waiting_set boolean, waiting jsonb, ended boolean, reason text,
    detail text, ended_at timestamptz, updated_at timestamptz`;
  await tx.query(sql.unsafe`
    UPDATE ${runs} AS r
       SET turn = coalesce(x.turn, r.turn), flow_id = coalesce(x.flow_id, r.flow_id),
           version = coalesce(x.version, r.version), steps = r.steps + x.steps,
           node_id = coalesce(x.node_id, r.node_id), variables = r.variables || x.variables,
           waiting = CASE WHEN x.waiting_set THEN x.waiting ELSE r.waiting END,
           status = CASE WHEN x.ended THEN 'ended' ELSE r.status END,
           reason = CASE WHEN x.ended THEN x.reason ELSE r.reason END,
           detail = CASE WHEN x.ended THEN x.detail ELSE r.detail END,
           ended_at = coalesce(x.ended_at, r.ended_at), updated_at = x.updated_at
      FROM ${recordset(changes, columns)} AS x
     WHERE r.organization_id = x.organization_id AND r.conversation_id = x.conversation_id
       AND r.run_id = x.run_id AND ${inOrganizationsOf('r', changes)}`);
}

async function clearWork(
  tx: DatabaseTransactionConnection,
  work: IdentifierSqlToken,
  cleared: FlowRunsChanges['clearedWork'],
): Promise<void> {
  if (cleared.length === 0) return;
  await tx.query(sql.unsafe`
    DELETE FROM ${work} AS w USING ${recordset(cleared, sql.fragment`conversation_id uuid, run_id uuid`)} AS x
     WHERE w.conversation_id = x.conversation_id AND w.run_id = x.run_id`);
}
