import { randomUUID } from 'node:crypto';
import type { DatabasePool } from 'slonik';
import { sql } from 'slonik';
import { asTenant } from '../db/pool.ts';
import { AppError, type FieldError } from '../errors/catalogue.ts';
import type { EventStore } from '../eventstore/eventStore.ts';
import { queryMatching } from '../http/queryParams.ts';
import type { Route } from '../http/route.ts';
import { uuidParam } from '../http/uuidParam.ts';
import type { Authenticator, Principal } from '../identity/authenticator.ts';
import { changeEntity, createEntity } from '../identity/entityCommands.ts';
import { commandContext, securedRoutes } from '../identity/secured.ts';
import { uuidPattern } from '../lang/uuid.ts';
import type { ProjectionRunner } from '../projection/projectionRunner.ts';
import type { BusinessHours, ChatbotSettings, ChatbotTrigger } from './chatbot.ts';
import { chatbotSettingErrors } from './chatbotSettings.ts';
import { type ChatbotUpdated, chatbotStream, evolveChatbot } from './flowEvents.ts';
import { findChatbot, flowsAmong, listChatbots } from './flowQueries.ts';

export type ChatbotRouteDeps = {
  pool: DatabasePool;
  store: EventStore;
  projections: ProjectionRunner;
  authenticator: Authenticator;
};

type CreateBody = {
  name: string;
  channelId: string;
  flowId: string;
  triggers: ChatbotTrigger[];
  businessHours?: BusinessHours | null;
  enabled?: boolean;
};

/** Ids are stored lower-case, as Postgres prints uuids, so the catalog and the read model agree. */
const lowerCaseIds = (hours: BusinessHours | null): BusinessHours | null =>
  hours?.closedFlowId === undefined ? hours : { ...hours, closedFlowId: hours.closedFlowId.toLowerCase() };

/**
 * Chatbots of the caller's organization: which published flow runs on which of its numbers, started
 * by which messages, in which hours. Every number and flow named must be the organization's own, and
 * a flow must be published before a chatbot may run it.
 */
export function chatbotRoutes(deps: ChatbotRouteDeps): Route[] {
  const secured = securedRoutes(deps.authenticator);

  /** 422 unless the settings hold and every number and flow they name is the organization's. */
  const checkSettings = async (me: Principal, settings: Partial<ChatbotSettings>) => {
    const invalid = chatbotSettingErrors(settings);
    if (invalid.length > 0) {
      throw new AppError('http.validation_failed', 'The chatbot settings are not valid', invalid);
    }
    const flows: { path: string; id: string }[] = [];
    if (settings.flowId !== undefined) flows.push({ path: '/flowId', id: settings.flowId.toLowerCase() });
    const closed = settings.businessHours?.closedFlowId;
    if (closed !== undefined) flows.push({ path: '/businessHours/closedFlowId', id: closed.toLowerCase() });
    const channelId = settings.channelId;
    const { channel, published } = await asTenant(deps.pool, me.organizationId, async (tx) => ({
      channel:
        channelId === undefined ||
        (await tx.exists(sql.unsafe`SELECT 1 FROM rm.channels
          WHERE organization_id = ${me.organizationId} AND channel_id = ${channelId} AND deleted_at IS NULL`)),
      published: await flowsAmong(
        tx,
        me.organizationId,
        flows.map((flow) => flow.id),
      ),
    }));
    const missing: FieldError[] = [
      ...(channel ? [] : [{ path: '/channelId', message: 'no such channel in this organization' }]),
      ...flows
        .filter((flow) => !published.has(flow.id))
        .map((flow) => ({ path: flow.path, message: 'no such flow in this organization' })),
    ];
    if (missing.length > 0) {
      throw new AppError('identity.invalid_reference', 'Unknown channel or flow', missing);
    }
    const unpublished = flows.filter((flow) => published.get(flow.id) === null);
    if (unpublished.length > 0) {
      throw new AppError(
        'flow.not_published',
        'A chatbot runs published flows only: publish the flow first',
        unpublished.map((flow) => ({ path: flow.path, message: 'the flow has no published version' })),
      );
    }
  };

  const existing = async (me: Principal, chatbotId: string) => {
    const chatbot = await findChatbot(deps.pool, me.organizationId, chatbotId);
    if (!chatbot) throw new AppError('http.not_found', 'No such chatbot');
    return chatbot;
  };

  return [
    secured({
      permission: 'flows.manage',
      method: 'GET',
      path: '/api/v1/chatbots',
      response: 'api/chatbotList',
      summary: 'Chatbots, oldest first (?channelId=: of one number)',
      handler: async (req, me) => {
        const channelId = queryMatching(req.query, 'channelId', uuidPattern, 'a channel id');
        return {
          status: 200,
          body: { items: await listChatbots(deps.pool, me.organizationId, channelId?.toLowerCase()) },
        };
      },
    }),
    secured({
      permission: 'flows.manage',
      method: 'GET',
      path: '/api/v1/chatbots/:id',
      response: 'api/chatbot',
      summary: 'One chatbot',
      handler: async (req, me) => ({ status: 200, body: await existing(me, uuidParam(req)) }),
    }),
    secured({
      permission: 'flows.manage',
      method: 'POST',
      path: '/api/v1/chatbots',
      body: 'api/createChatbot',
      response: 'api/chatbot',
      status: 201,
      summary: 'Run a published flow on a WhatsApp number when a message matches its triggers',
      handler: async (req, me) => {
        const body = req.json<CreateBody>();
        const settings: ChatbotSettings = {
          name: body.name,
          channelId: body.channelId.toLowerCase(),
          flowId: body.flowId.toLowerCase(),
          triggers: body.triggers,
          businessHours: lowerCaseIds(body.businessHours ?? null),
          enabled: body.enabled ?? true,
        };
        await checkSettings(me, settings);
        const chatbotId = randomUUID();
        await createEntity(
          deps,
          chatbotStream(chatbotId),
          { type: 'ChatbotCreated', data: { chatbotId, ...settings } },
          commandContext(me, req),
        );
        return { status: 201, body: await existing(me, chatbotId) };
      },
    }),
    secured({
      permission: 'flows.manage',
      method: 'PATCH',
      path: '/api/v1/chatbots/:id',
      body: 'api/updateChatbot',
      response: 'api/chatbot',
      summary:
        "Change a chatbot's name, flow, triggers, business hours (null: always open) or whether it runs",
      handler: async (req, me) => {
        const changes = req.json<ChatbotUpdated>();
        const chatbotId = uuidParam(req);
        // Another organization's chatbot is no chatbot: 404 before its settings are judged.
        await existing(me, chatbotId);
        await checkSettings(me, changes);
        const data: ChatbotUpdated = {
          ...changes,
          ...(changes.flowId === undefined ? {} : { flowId: changes.flowId.toLowerCase() }),
          ...(changes.businessHours === undefined
            ? {}
            : { businessHours: lowerCaseIds(changes.businessHours) }),
        };
        await changeEntity(
          deps,
          chatbotStream(chatbotId),
          evolveChatbot,
          (state) => {
            if (!state || state.organizationId !== me.organizationId) {
              throw new AppError('http.not_found', 'No such chatbot');
            }
            return { type: 'ChatbotUpdated', data };
          },
          commandContext(me, req),
        );
        return { status: 200, body: await existing(me, chatbotId) };
      },
    }),
  ];
}
