import { sql } from 'slonik';
import { type RecordedEvent, streamId } from '../src/eventstore/eventStore.ts';
import type {
  ChatbotCreated,
  ChatbotUpdated,
  FlowDraftSaved,
  FlowPublished,
} from '../src/flow/flowEvents.ts';
import { chatbotEventTypes, flowEventTypes } from '../src/flow/flowEvents.ts';
import { eachEvent, type Projection } from '../src/projection/projection.ts';
import { createTenantTable } from '../src/projection/tenantTable.ts';

/**
 * Flows with every saved version, and chatbots: what the flow builder lists and what the conversation
 * actor's FlowCatalog reads before a bot turn. Inserts ignore rows already there and updates set
 * absolute values (guarded by the version where order matters), so applying an event twice changes
 * nothing.
 */
type Table = 'flows' | 'flowVersions' | 'chatbots';

const json = (value: unknown) => sql.fragment`${JSON.stringify(value)}::jsonb`;

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
  applyBatch: eachEvent(async (tx, event, { tables: t }) => {
    const org = event.metadata.organizationId;
    const at = event.metadata.occurredAt;
    switch (event.type) {
      case 'FlowDraftSaved': {
        const data = event.data as FlowDraftSaved;
        await tx.query(sql.unsafe`
          INSERT INTO ${t.flowVersions} (organization_id, flow_id, version, name, definition, created_at)
          VALUES (${org}, ${data.flowId}, ${data.version}, ${data.name}, ${json(data.definition)}, ${at})
          ON CONFLICT DO NOTHING`);
        // Versions only grow: an older save applied again leaves the flow as it is.
        await tx.query(sql.unsafe`
          INSERT INTO ${t.flows} AS f (organization_id, flow_id, name, latest_version, created_at, updated_at)
          VALUES (${org}, ${data.flowId}, ${data.name}, ${data.version}, ${at}, ${at})
          ON CONFLICT (organization_id, flow_id) DO UPDATE
            SET name = excluded.name, latest_version = excluded.latest_version, updated_at = excluded.updated_at
          WHERE f.latest_version < excluded.latest_version`);
        return;
      }
      case 'FlowPublished': {
        const data = event.data as FlowPublished;
        await tx.query(sql.unsafe`
          UPDATE ${t.flowVersions} SET published_at = ${at}
           WHERE organization_id = ${org} AND flow_id = ${data.flowId} AND version = ${data.version}`);
        await tx.query(sql.unsafe`
          UPDATE ${t.flows} SET published_version = ${data.version}, updated_at = greatest(updated_at, ${at})
           WHERE organization_id = ${org} AND flow_id = ${data.flowId}`);
        return;
      }
      case 'ChatbotCreated': {
        const data = event.data as ChatbotCreated;
        await tx.query(sql.unsafe`
          INSERT INTO ${t.chatbots} (organization_id, chatbot_id, name, channel_id, flow_id, triggers,
                                     business_hours, enabled, created_at, updated_at)
          VALUES (${org}, ${data.chatbotId}, ${data.name}, ${data.channelId}, ${data.flowId}, ${json(data.triggers)},
                  ${data.businessHours === null ? null : json(data.businessHours)}, ${data.enabled}, ${at}, ${at})
          ON CONFLICT DO NOTHING`);
        return;
      }
      case 'ChatbotUpdated': {
        // An absent field keeps its value; a null businessHours removes them.
        const data = event.data as ChatbotUpdated;
        await tx.query(sql.unsafe`
          UPDATE ${t.chatbots}
             SET name = coalesce(${data.name ?? null}, name),
                 flow_id = coalesce(${data.flowId ?? null}::uuid, flow_id),
                 triggers = coalesce(${data.triggers === undefined ? null : json(data.triggers)}, triggers),
                 business_hours = CASE WHEN ${'businessHours' in data}
                   THEN ${data.businessHours ? json(data.businessHours) : null}::jsonb ELSE business_hours END,
                 enabled = coalesce(${data.enabled ?? null}::boolean, enabled),
                 updated_at = ${at}
           WHERE organization_id = ${org} AND chatbot_id = ${streamId(event.streamName)}`);
        return;
      }
      default:
        return;
    }
  }),
};
