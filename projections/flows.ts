import { type DatabaseTransactionConnection, type IdentifierSqlToken, sql } from 'slonik';
import { chatbotEventTypes, flowEventTypes } from '../src/flow/flowEvents.ts';
import type { Projection } from '../src/projection/projection.ts';
import { inOrganizationsOf, recordset } from '../src/projection/rowChanges.ts';
import { createTenantTable } from '../src/projection/tenantTable.ts';
import { type FlowChange, flowKey, flowsOf, foldFlows } from './flows/fold.ts';

/**
 * Flows with every saved version, and chatbots: what the flow builder lists and what the conversation
 * actor's FlowCatalog reads before a bot turn. Inserts ignore rows already there and updates set
 * absolute values (guarded by the version where order matters), so applying an event twice changes
 * nothing. A batch reads its flows' latest versions in one statement, is folded in memory
 * (flows/fold.ts) and written with a few statements per table.
 */
type Table = 'flows' | 'flowVersions' | 'chatbots';

export const flowsProjection: Projection<Table> = {
  name: 'flows',
  version: 1,
  tables: {
    flows: 'rm.flows',
    flowVersions: 'rm.flow_versions',
    chatbots: 'rm.chatbots',
  },
  eventTypes: [...flowEventTypes, ...chatbotEventTypes],
  async createTables(tx, t) {
    await createTenantTable(
      tx,
      t.flows,
      sql.fragment`
      organization_id uuid NOT NULL, flow_id uuid NOT NULL, name text NOT NULL,
      latest_version integer NOT NULL, published_version integer,
      created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,
      PRIMARY KEY (organization_id, flow_id)`,
    );
    await createTenantTable(
      tx,
      t.flowVersions,
      sql.fragment`
      organization_id uuid NOT NULL, flow_id uuid NOT NULL, version integer NOT NULL, name text NOT NULL,
      definition jsonb NOT NULL, created_at timestamptz NOT NULL, published_at timestamptz,
      PRIMARY KEY (organization_id, flow_id, version)`,
    );
    await createTenantTable(
      tx,
      t.chatbots,
      sql.fragment`
      organization_id uuid NOT NULL, chatbot_id uuid NOT NULL, name text NOT NULL, channel_id uuid NOT NULL,
      flow_id uuid NOT NULL, triggers jsonb NOT NULL, business_hours jsonb, enabled boolean NOT NULL,
      created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,
      PRIMARY KEY (organization_id, chatbot_id)`,
    );
    // The catalog reads a number's chatbots on every bot turn it does not have cached.
    await tx.query(sql.unsafe`CREATE INDEX ON ${t.chatbots} (organization_id, channel_id)`);
  },
  async applyBatch(tx, events, { tables: t }) {
    const changes = foldFlows(events, await latestVersions(tx, t.flows, flowsOf(events)));
    await changes.flowVersions.write(tx, t.flowVersions);
    await changes.chatbots.write(tx, t.chatbots);
    await changes.newFlows.write(tx, t.flows);
    await updateFlows(tx, t.flows, changes.flowChanges);
  },
};

async function latestVersions(
  tx: DatabaseTransactionConnection,
  flows: IdentifierSqlToken,
  keys: { organization_id: string; flow_id: string }[],
): Promise<Map<string, number>> {
  if (keys.length === 0) return new Map();
  const rows = (await tx.any(sql.unsafe`
    SELECT f.organization_id, f.flow_id, f.latest_version FROM ${flows} AS f
      JOIN ${recordset(keys, sql.fragment`organization_id uuid, flow_id uuid`)} AS k
        ON f.organization_id = k.organization_id AND f.flow_id = k.flow_id
     WHERE ${inOrganizationsOf('f', keys)}`)) as readonly {
    organization_id: string;
    flow_id: string;
    latest_version: number;
  }[];
  return new Map(rows.map((row) => [flowKey(row.organization_id, row.flow_id), row.latest_version]));
}

async function updateFlows(
  tx: DatabaseTransactionConnection,
  flows: IdentifierSqlToken,
  changes: FlowChange[],
): Promise<void> {
  if (changes.length === 0) return;
  const rows = changes.map(({ saved, ...change }) => ({
    ...change,
    name: saved?.name ?? null,
    latest_version: saved?.latest_version ?? null,
    saved_at: saved?.at ?? null,
  }));
  const columns = sql.fragment`
    organization_id uuid, flow_id uuid, name text, latest_version integer, saved_at timestamptz,
    published_version integer, published_at timestamptz[]`;
  await tx.query(sql.unsafe`
    UPDATE ${flows} AS f
       SET name = coalesce(x.name, f.name), latest_version = coalesce(x.latest_version, f.latest_version),
           published_version = coalesce(x.published_version, f.published_version),
           updated_at = greatest(coalesce(x.saved_at, f.updated_at), (SELECT max(p) FROM unnest(x.published_at) AS p))
      FROM ${recordset(rows, columns)} AS x
     WHERE f.organization_id = x.organization_id AND f.flow_id = x.flow_id AND ${inOrganizationsOf('f', changes)}`);
}
