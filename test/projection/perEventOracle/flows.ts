import { sql } from 'slonik';
import { flowsProjection } from '../../../projections/flows.ts';
import { streamId } from '../../../src/eventstore/eventStore.ts';
import type {
  ChatbotCreated,
  ChatbotUpdated,
  FlowDraftSaved,
  FlowPublished,
} from '../../../src/flow/flowEvents.ts';
import { perEvent } from './perEvent.ts';

/**
 * The flows projection as it was before it became set-based (projection version 1, one event at a
 * time, a statement or two each), kept here only as the reference the set-based projection is checked
 * against (setBasedProjections.int.test.ts). Not used by the server.
 */
const json = (value: unknown) => sql.fragment`${JSON.stringify(value)}::jsonb`;

export const flowsPerEvent = perEvent(flowsProjection, async (tx, event, { tables: t }) => {
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
});
