import { type RecordedEvent, streamId } from '../../src/eventstore/eventStore.ts';
import type {
  ChatbotCreated,
  ChatbotUpdated,
  FlowDraftSaved,
  FlowPublished,
} from '../../src/flow/flowEvents.ts';
import { RowChanges, rowKey } from '../../src/projection/rowChanges.ts';

/**
 * The flows projection's batch, folded in memory as the per-event SQL of its first version applied it.
 * A flow's row depends on what it holds (only a newer version replaces it), so the fold starts from
 * each flow's stored latest version; versions and chatbots need nothing read first.
 */
type FlowVersionRow = {
  organization_id: string;
  flow_id: string;
  version: number;
  name: string;
  definition: unknown;
  created_at: string;
  published_at: string | null;
};
type ChatbotRow = {
  organization_id: string;
  chatbot_id: string;
  name: string;
  channel_id: string;
  flow_id: string;
  triggers: unknown;
  business_hours: unknown;
  enabled: boolean;
  created_at: string;
  updated_at: string;
};
type FlowRow = {
  organization_id: string;
  flow_id: string;
  name: string;
  latest_version: number;
  published_version: number | null;
  created_at: string;
  updated_at: string;
};

/** What the batch does to a flow's row once it stands: a newer save, then the publications since. */
export type FlowChange = {
  organization_id: string;
  flow_id: string;
  saved: { name: string; latest_version: number; at: string } | null;
  published_version: number | null;
  /** When the publications since the save (or the batch's start) were: they move updated_at only forwards. */
  published_at: string[];
};

export type FlowsChanges = {
  flowVersions: RowChanges<FlowVersionRow>;
  chatbots: RowChanges<ChatbotRow>;
  newFlows: RowChanges<FlowRow>;
  flowChanges: FlowChange[];
};

export const flowKey = (organizationId: string, flowId: string) => rowKey(organizationId, flowId);

/** The flows whose rows the batch reads first: every flow its events name. */
export function flowsOf(events: readonly RecordedEvent[]): { organization_id: string; flow_id: string }[] {
  const flows = new Map<string, { organization_id: string; flow_id: string }>();
  for (const event of events) {
    const { flowId } = event.data as { flowId?: string };
    if (event.type !== 'FlowDraftSaved' && event.type !== 'FlowPublished') continue;
    if (typeof flowId !== 'string') continue;
    const organizationId = event.metadata.organizationId;
    flows.set(flowKey(organizationId, flowId), { organization_id: organizationId, flow_id: flowId });
  }
  return [...flows.values()];
}

/** `latestVersions`: the stored flows' latest versions by flowKey (a flow absent has no row). */
export function foldFlows(
  events: readonly RecordedEvent[],
  latestVersions: ReadonlyMap<string, number>,
): FlowsChanges {
  const changes: FlowsChanges = {
    flowVersions: new RowChanges<FlowVersionRow>(['organization_id', 'flow_id', 'version']),
    chatbots: new RowChanges<ChatbotRow>(['organization_id', 'chatbot_id']),
    newFlows: new RowChanges<FlowRow>(['organization_id', 'flow_id']),
    flowChanges: [],
  };
  const flows = new Map<string, { latest: number | null; change: FlowChange | null }>();
  const flowOf = (organizationId: string, flowId: string) => {
    const key = flowKey(organizationId, flowId);
    let flow = flows.get(key);
    if (!flow) {
      flow = { latest: latestVersions.get(key) ?? null, change: null };
      flows.set(key, flow);
    }
    return flow;
  };
  const changeOf = (flow: { change: FlowChange | null }, organizationId: string, flowId: string) => {
    flow.change ??= {
      organization_id: organizationId,
      flow_id: flowId,
      saved: null,
      published_version: null,
      published_at: [],
    };
    return flow.change;
  };
  for (const event of events) {
    const org = event.metadata.organizationId;
    const at = event.metadata.occurredAt;
    switch (event.type) {
      case 'FlowDraftSaved': {
        const data = event.data as FlowDraftSaved;
        changes.flowVersions.create({
          organization_id: org,
          flow_id: data.flowId,
          version: data.version,
          name: data.name,
          definition: data.definition,
          created_at: at,
          published_at: null,
        });
        // Versions only grow: an older save applied again leaves the flow as it is.
        const flow = flowOf(org, data.flowId);
        if (flow.latest !== null && flow.latest >= data.version) break;
        if (flow.latest === null) {
          changes.newFlows.create({
            organization_id: org,
            flow_id: data.flowId,
            name: data.name,
            latest_version: data.version,
            published_version: null,
            created_at: at,
            updated_at: at,
          });
        } else {
          const change = changeOf(flow, org, data.flowId);
          change.saved = { name: data.name, latest_version: data.version, at };
          change.published_at = [];
        }
        flow.latest = data.version;
        break;
      }
      case 'FlowPublished': {
        const data = event.data as FlowPublished;
        changes.flowVersions.set(
          { organization_id: org, flow_id: data.flowId, version: data.version },
          { published_at: at },
        );
        const flow = flowOf(org, data.flowId);
        if (flow.latest === null) break;
        const change = changeOf(flow, org, data.flowId);
        change.published_version = data.version;
        change.published_at.push(at);
        break;
      }
      case 'ChatbotCreated': {
        const data = event.data as ChatbotCreated;
        changes.chatbots.create({
          organization_id: org,
          chatbot_id: data.chatbotId,
          name: data.name,
          channel_id: data.channelId,
          flow_id: data.flowId,
          triggers: data.triggers,
          business_hours: data.businessHours,
          enabled: data.enabled,
          created_at: at,
          updated_at: at,
        });
        break;
      }
      case 'ChatbotUpdated': {
        // An absent field keeps its value; a null businessHours removes them.
        const data = event.data as ChatbotUpdated;
        changes.chatbots.set(
          { organization_id: org, chatbot_id: streamId(event.streamName) },
          {
            name: data.name ?? undefined,
            flow_id: data.flowId ?? undefined,
            triggers: data.triggers,
            business_hours: 'businessHours' in data ? (data.businessHours ?? null) : undefined,
            enabled: data.enabled ?? undefined,
            updated_at: at,
          },
        );
        break;
      }
      default:
        break;
    }
  }
  for (const flow of flows.values()) if (flow.change) changes.flowChanges.push(flow.change);
  return changes;
}
