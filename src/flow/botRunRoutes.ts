import { type DatabasePool, sql } from 'slonik';
import { findConversation, visibilityOf } from '../conversation/conversationQueries.ts';
import { asTenant } from '../db/pool.ts';
import { AppError } from '../errors/catalogue.ts';
import { queryLimit } from '../http/queryParams.ts';
import type { Route } from '../http/route.ts';
import { uuidParam } from '../http/uuidParam.ts';
import type { Authenticator } from '../identity/authenticator.ts';
import { securedRoutes } from '../identity/secured.ts';
import type { Value } from './expression.ts';
import { waitingForAgents } from './flowRun.ts';

type RunRow = {
  run_id: string;
  chatbot_id: string | null;
  flow_id: string;
  version: number;
  trigger: { type: string; value: string | null };
  status: 'running' | 'ended';
  turn: number;
  steps: number;
  node_id: string | null;
  waiting: { kind: string; nodeId: string; request?: unknown } | null;
  variables: Record<string, Value>;
  reason: string | null;
  detail: string | null;
  started_at: Date;
  updated_at: Date;
  ended_at: Date | null;
};

/** A conversation's chatbot runs, newest first: for agents who want to know what the bot did and why it stopped. */
export function botRunRoutes(deps: { pool: DatabasePool; authenticator: Authenticator }): Route[] {
  const secured = securedRoutes(deps.authenticator);
  return [
    secured({
      permission: 'conversations.read',
      method: 'GET',
      path: '/api/v1/conversations/:id/bot-runs',
      response: 'api/botRunList',
      summary:
        "The conversation's chatbot runs, newest first: flow version, where each stands or why it ended",
      handler: async (req, me) => {
        const conversationId = uuidParam(req);
        const visible = await findConversation(
          deps.pool,
          me.organizationId,
          conversationId,
          await visibilityOf(deps.pool, me),
        );
        if (!visible) throw new AppError('http.not_found', 'No such conversation');
        const limit = queryLimit(req.query, 20, 100);
        const rows = (await asTenant(deps.pool, me.organizationId, (tx) =>
          tx.any(sql.unsafe`
            SELECT run_id, chatbot_id, flow_id, version, trigger, status, turn, steps, node_id, waiting, variables,
                   reason, detail, started_at, updated_at, ended_at
              FROM rm.bot_runs
             WHERE organization_id = ${me.organizationId} AND conversation_id = ${conversationId}
             ORDER BY started_at DESC, run_id LIMIT ${limit}`),
        )) as readonly RunRow[];
        return { status: 200, body: { items: rows.map(toRun) } };
      },
    }),
  ];
}

const toRun = (row: RunRow) => ({
  id: row.run_id,
  chatbotId: row.chatbot_id,
  flowId: row.flow_id,
  version: row.version,
  trigger: row.trigger,
  status: row.status,
  turn: row.turn,
  steps: row.steps,
  nodeId: row.node_id,
  waiting: waitingForAgents(row.waiting),
  variables: row.variables,
  reason: row.reason,
  detail: row.detail,
  startedAt: row.started_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
  endedAt: row.ended_at?.toISOString() ?? null,
});
