import { type DatabasePool, type DatabaseTransactionConnection, sql } from 'slonik';
import { asTenant } from '../db/pool.ts';
import type { BusinessHours, Chatbot, ChatbotTrigger } from './chatbot.ts';
import type { FlowDefinition } from './flowDefinition.ts';

/**
 * Reads of the flows read models (projections/flows.ts). Each runs as pytake_app with the caller's
 * tenant set (row-level security) and names organization_id anyway.
 */
export type FlowSummary = {
  id: string;
  name: string;
  latestVersion: number;
  publishedVersion: number | null;
  updatedAt: string;
};

export type FlowVersion = {
  id: string;
  name: string;
  version: number;
  latestVersion: number;
  publishedVersion: number | null;
  definition: FlowDefinition;
  createdAt: string;
  updatedAt: string;
  savedAt: string;
};

export type ChatbotItem = Chatbot & { createdAt: string; updatedAt: string };

type FlowRow = {
  flow_id: string;
  name: string;
  latest_version: number;
  published_version: number | null;
  created_at: Date;
  updated_at: Date;
};

export type ChatbotRow = {
  chatbot_id: string;
  name: string;
  channel_id: string;
  flow_id: string;
  triggers: ChatbotTrigger[];
  business_hours: BusinessHours | null;
  enabled: boolean;
  created_at: Date;
  updated_at: Date;
};

export const chatbotColumns = sql.fragment`chatbot_id, name, channel_id, flow_id, triggers, business_hours,
  enabled, created_at, updated_at`;

export const toChatbot = (row: ChatbotRow): Chatbot => ({
  id: row.chatbot_id,
  name: row.name,
  channelId: row.channel_id,
  flowId: row.flow_id,
  triggers: row.triggers,
  businessHours: row.business_hours,
  enabled: row.enabled,
});

const toChatbotItem = (row: ChatbotRow): ChatbotItem => ({
  ...toChatbot(row),
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
});

export async function listFlows(pool: DatabasePool, organizationId: string): Promise<FlowSummary[]> {
  const rows = (await asTenant(pool, organizationId, (tx) =>
    tx.any(sql.unsafe`SELECT flow_id, name, latest_version, published_version, created_at, updated_at
      FROM rm.flows WHERE organization_id = ${organizationId} ORDER BY created_at, flow_id`),
  )) as readonly FlowRow[];
  return rows.map((row) => ({
    id: row.flow_id,
    name: row.name,
    latestVersion: row.latest_version,
    publishedVersion: row.published_version,
    updatedAt: row.updated_at.toISOString(),
  }));
}

/** One version of a flow (the latest when `version` is absent), or null. */
export async function findFlowVersion(
  pool: DatabasePool,
  organizationId: string,
  flowId: string,
  version?: number,
): Promise<FlowVersion | null> {
  const row = (await asTenant(pool, organizationId, (tx) =>
    tx.maybeOne(sql.unsafe`
      SELECT f.flow_id, v.name, v.version, f.latest_version, f.published_version, v.definition,
             f.created_at, f.updated_at, v.created_at AS saved_at
        FROM rm.flows f
        JOIN rm.flow_versions v ON v.organization_id = f.organization_id AND v.flow_id = f.flow_id
       WHERE f.organization_id = ${organizationId} AND f.flow_id = ${flowId}
         AND v.version = ${version === undefined ? sql.fragment`f.latest_version` : sql.fragment`${version}`}`),
  )) as (FlowRow & { version: number; definition: FlowDefinition; saved_at: Date }) | null;
  if (!row) return null;
  return {
    id: row.flow_id,
    name: row.name,
    version: row.version,
    latestVersion: row.latest_version,
    publishedVersion: row.published_version,
    definition: row.definition,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    savedAt: row.saved_at.toISOString(),
  };
}

/** Which of `flowIds` are flows of the organization, with their published version (null: none yet). */
export async function flowsAmong(
  tx: DatabaseTransactionConnection,
  organizationId: string,
  flowIds: readonly string[],
): Promise<Map<string, number | null>> {
  if (flowIds.length === 0) return new Map();
  const rows = (await tx.any(sql.unsafe`SELECT flow_id, published_version FROM rm.flows
    WHERE organization_id = ${organizationId} AND flow_id = ANY(${sql.array([...flowIds], 'uuid')})`)) as readonly {
    flow_id: string;
    published_version: number | null;
  }[];
  return new Map(rows.map((row) => [row.flow_id, row.published_version]));
}

/** Which of these queues (or live users) exist in the organization. */
export async function idsAmong(
  tx: DatabaseTransactionConnection,
  organizationId: string,
  kind: 'queue' | 'user',
  ids: readonly string[],
): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const wanted = sql.array([...new Set(ids)], 'uuid');
  const found =
    kind === 'queue'
      ? await tx.anyFirst(sql.unsafe`SELECT queue_id FROM rm.queues
          WHERE organization_id = ${organizationId} AND queue_id = ANY(${wanted})`)
      : await tx.anyFirst(sql.unsafe`SELECT user_id FROM rm.users
          WHERE organization_id = ${organizationId} AND user_id = ANY(${wanted}) AND deleted_at IS NULL`);
  return new Set(found as readonly string[]);
}

export async function findChatbot(
  pool: DatabasePool,
  organizationId: string,
  chatbotId: string,
): Promise<ChatbotItem | null> {
  const row = (await asTenant(pool, organizationId, (tx) =>
    tx.maybeOne(sql.unsafe`SELECT ${chatbotColumns} FROM rm.chatbots
      WHERE organization_id = ${organizationId} AND chatbot_id = ${chatbotId}`),
  )) as ChatbotRow | null;
  return row ? toChatbotItem(row) : null;
}

/** Chatbots oldest first, of one number when `channelId` is given. */
export async function listChatbots(
  pool: DatabasePool,
  organizationId: string,
  channelId?: string,
): Promise<ChatbotItem[]> {
  const rows = (await asTenant(pool, organizationId, (tx) =>
    tx.any(sql.unsafe`SELECT ${chatbotColumns} FROM rm.chatbots
      WHERE organization_id = ${organizationId}
        ${channelId === undefined ? sql.fragment`` : sql.fragment`AND channel_id = ${channelId}`}
      ORDER BY created_at, chatbot_id`),
  )) as readonly ChatbotRow[];
  return rows.map(toChatbotItem);
}
