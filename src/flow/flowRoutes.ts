import { randomUUID } from 'node:crypto';
import type { DatabasePool } from 'slonik';
import { asTenant } from '../db/pool.ts';
import { AppError } from '../errors/catalogue.ts';
import type { EventStore } from '../eventstore/eventStore.ts';
import { invalidQuery, queryParam } from '../http/queryParams.ts';
import type { Route } from '../http/route.ts';
import { uuidParam } from '../http/uuidParam.ts';
import type { Authenticator, Principal } from '../identity/authenticator.ts';
import { changeEntity, createEntity } from '../identity/entityCommands.ts';
import { commandContext, securedRoutes } from '../identity/secured.ts';
import { uuidPattern } from '../lang/uuid.ts';
import type { ProjectionRunner } from '../projection/projectionRunner.ts';
import type { SchemaRegistry } from '../schemas/schemaRegistry.ts';
import { decidePublish, decideSaveDraft } from './decideFlow.ts';
import type { FlowDefinition } from './flowDefinition.ts';
import { evolveFlow, type FlowState, flowStream } from './flowEvents.ts';
import { findFlowVersion, flowsAmong, idsAmong, listFlows } from './flowQueries.ts';
import { validateFlow } from './validateFlow.ts';

export type FlowRouteDeps = {
  pool: DatabasePool;
  store: EventStore;
  projections: ProjectionRunner;
  authenticator: Authenticator;
  registry: SchemaRegistry;
};

/**
 * Flows of the caller's organization. Every save is a new version (the first is 1) and saved versions
 * never change, so publishing one freezes what chatbots run while editing goes on in later drafts.
 */
export function flowRoutes(deps: FlowRouteDeps): Route[] {
  const secured = securedRoutes(deps.authenticator);

  /**
   * Runs validateFlow with what the definition names checked against the organization — its jump
   * targets (plus `ownId`), and the queues and agents of its handoffs — in one tenant transaction,
   * and answers the issues. Returns whether `ownId` is a flow of the organization.
   */
  const checkDefinition = async (me: Principal, definition: unknown, ownId: string) => {
    // Not checked yet (validateFlow checks the shape too, to name each node at fault): read with care.
    const nodes = (definition as { nodes?: unknown }).nodes;
    const named = (field: string, type: string) =>
      (Array.isArray(nodes) ? (nodes as Partial<Record<string, unknown>>[]) : []).flatMap((node) => {
        const id = node?.[field];
        return node?.type === type && typeof id === 'string' && uuidPattern.test(id)
          ? [id.toLowerCase()]
          : [];
      });
    const org = me.organizationId;
    const { flows, queues, users } = await asTenant(deps.pool, org, async (tx) => ({
      flows: await flowsAmong(tx, org, [...new Set([...named('flowId', 'jump_to_flow'), ownId])]),
      queues: await idsAmong(tx, org, 'queue', named('queueId', 'handoff')),
      users: await idsAmong(tx, org, 'user', named('assigneeId', 'handoff')),
    }));
    const issues = validateFlow(definition, {
      registry: deps.registry,
      flowExists: (flowId) => flows.has(flowId.toLowerCase()),
      queueExists: (queueId) => queues.has(queueId.toLowerCase()),
      userExists: (userId) => users.has(userId.toLowerCase()),
    });
    return { issues, ownExists: flows.has(ownId) };
  };
  const refuse = (issues: ReturnType<typeof validateFlow>): never => {
    throw new AppError(
      'flow.invalid_definition',
      `The definition has ${issues.length} problem(s)`,
      issues.map((issue) => ({ ...issue, path: `/definition${issue.path === '/' ? '' : issue.path}` })),
    );
  };

  return [
    secured({
      permission: 'flows.manage',
      method: 'GET',
      path: '/api/v1/flows',
      response: 'api/flowList',
      summary: 'Flows, oldest first, with their latest and published versions',
      handler: async (_req, me) => ({
        status: 200,
        body: { items: await listFlows(deps.pool, me.organizationId) },
      }),
    }),
    secured({
      permission: 'flows.manage',
      method: 'GET',
      path: '/api/v1/flows/:id',
      response: 'api/flow',
      summary: 'A flow at its latest version, or at ?version=N',
      handler: async (req, me) => {
        const flowId = uuidParam(req);
        const version = versionParam(req.query);
        const flow = await findFlowVersion(deps.pool, me.organizationId, flowId, version);
        if (!flow)
          throw new AppError(
            'http.not_found',
            version ? `No version ${version} of that flow` : 'No such flow',
          );
        return { status: 200, body: flow };
      },
    }),
    secured({
      permission: 'flows.manage',
      method: 'POST',
      path: '/api/v1/flows',
      body: 'api/createFlow',
      response: 'api/flowSaved',
      status: 201,
      summary: 'Create a flow: its definition becomes draft version 1',
      handler: async (req, me) => {
        const body = req.json<{ name: string; definition: FlowDefinition }>();
        const flowId = randomUUID();
        const { issues } = await checkDefinition(me, body.definition, flowId);
        if (issues.length > 0) refuse(issues);
        await createEntity(
          deps,
          flowStream(flowId),
          {
            type: 'FlowDraftSaved',
            data: { flowId, version: 1, name: body.name, definition: body.definition },
          },
          commandContext(me, req),
        );
        return { status: 201, body: { id: flowId, version: 1 } };
      },
    }),
    secured({
      permission: 'flows.manage',
      method: 'PUT',
      path: '/api/v1/flows/:id',
      body: 'api/updateFlow',
      response: 'api/flowSaved',
      summary: 'Save a new draft version (published versions never change); the flow may jump to itself',
      handler: async (req, me) => {
        const body = req.json<{ name?: string; definition: FlowDefinition }>();
        const flowId = uuidParam(req);
        const { issues, ownExists } = await checkDefinition(me, body.definition, flowId);
        // Another organization's flow is no flow: 404 before its graph is judged.
        if (!ownExists) throw new AppError('http.not_found', 'No such flow');
        if (issues.length > 0) refuse(issues);
        let version = 0;
        await changeEntity(
          deps,
          flowStream(flowId),
          evolveFlow,
          (state) => {
            const draft = decideSaveDraft(state, {
              organizationId: me.organizationId,
              flowId,
              definition: body.definition,
              ...(body.name === undefined ? {} : { name: body.name }),
            });
            version = (draft.data as { version: number }).version;
            return draft;
          },
          commandContext(me, req),
        );
        return { status: 200, body: { id: flowId, version } };
      },
    }),
    secured({
      permission: 'flows.manage',
      method: 'POST',
      path: '/api/v1/flows/:id/publish',
      body: 'api/publishFlow',
      optionalBody: true,
      response: 'api/flowPublished',
      summary:
        'Publish a saved version (default the latest): chatbots run it from their next run on. Publishing the published version again changes nothing',
      handler: async (req, me) => {
        // No body (or {}) publishes the latest version.
        const body = req.json<{ version?: number }>();
        const flowId = uuidParam(req);
        let published = 0;
        await changeEntity(
          deps,
          flowStream(flowId),
          evolveFlow,
          (state) => {
            const draft = decidePublish(state, {
              organizationId: me.organizationId,
              flowId,
              ...(body.version === undefined ? {} : { version: body.version }),
            });
            published = body.version ?? (state as FlowState).latestVersion;
            return draft;
          },
          commandContext(me, req),
        );
        return { status: 200, body: { id: flowId, publishedVersion: published } };
      },
    }),
  ];
}

/** `?version=N`, a whole number from 1; undefined when absent. */
function versionParam(query: URLSearchParams): number | undefined {
  const value = queryParam(query, 'version');
  if (value === undefined) return undefined;
  const version = /^\d{1,9}$/.test(value) ? Number(value) : 0;
  if (version < 1) throw invalidQuery('version', 'must be a whole number from 1');
  return version;
}
