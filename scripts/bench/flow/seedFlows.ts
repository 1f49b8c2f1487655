/**
 * The bench's organization, as the flow and chatbot routes would leave it: both flows saved and
 * published (version 1), one chatbot per flow, each on a WhatsApp number of its own, and a third
 * number without a chatbot. The events go straight to the store (no HTTP); the projection runner
 * then fills rm.flows, rm.flow_versions and rm.chatbots (and creates every read model's tables) and
 * is stopped once it has caught up, so no projection work competes with the measures.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { allProjections } from '../../../projections/index.ts';
import type { DatabasePool } from '../../../src/db/pool.ts';
import { toNewEvents } from '../../../src/eventsourcing/commandHandler.ts';
import type { PostgresEventStore } from '../../../src/eventstore/postgresEventStore.ts';
import type { ChatbotTrigger } from '../../../src/flow/chatbot.ts';
import type { FlowDefinition } from '../../../src/flow/flowDefinition.ts';
import { type ChatbotCreated, chatbotStream, flowStream } from '../../../src/flow/flowEvents.ts';
import { validateFlow } from '../../../src/flow/validateFlow.ts';
import type { Logger } from '../../../src/log/logger.ts';
import { ProjectionRunner } from '../../../src/projection/projectionRunner.ts';
import type { SchemaRegistry } from '../../../src/schemas/schemaRegistry.ts';

export type SeededBot = { flowId: string; chatbotId: string; channelId: string; triggers: ChatbotTrigger[] };

export type Seeded = {
  organizationId: string;
  survey: SeededBot;
  compute: SeededBot;
  /** A number with no chatbot. */
  bareChannelId: string;
  /** Seconds the projections took to catch up. */
  catchUpSeconds: number;
};

type Deps = {
  store: PostgresEventStore;
  pool: DatabasePool;
  admin: pg.Client;
  registry: SchemaRegistry;
  logger: Logger;
};

export async function seedFlows(
  deps: Deps,
  flows: { survey: FlowDefinition; compute: FlowDefinition },
): Promise<Seeded> {
  const organizationId = randomUUID();
  // The routes record the admin who saved: any user id will do.
  const context = { organizationId, actor: randomUUID() };
  let last = 0n;

  // 1. Both flows, checked as POST /flows checks them, saved and published.
  const bot = async (name: string, definition: FlowDefinition, triggers: ChatbotTrigger[]) => {
    const issues = validateFlow(definition, { registry: deps.registry, flowExists: () => false });
    if (issues.length > 0) throw new Error(`flow ${name} is not valid: ${JSON.stringify(issues)}`);
    const flowId = randomUUID();
    await deps.store.appendToStream(
      flowStream(flowId),
      toNewEvents(
        [
          { type: 'FlowDraftSaved', data: { flowId, version: 1, name, definition } },
          { type: 'FlowPublished', data: { flowId, version: 1 } },
        ],
        context,
      ),
      'no_stream',
    );
    // 2. Its chatbot, on a number of its own (the actor never checks the channel exists).
    const chatbotId = randomUUID();
    const channelId = randomUUID();
    const created: ChatbotCreated = {
      chatbotId,
      name: `${name} bot`,
      channelId,
      flowId,
      triggers,
      businessHours: null,
      enabled: true,
    };
    const { position } = await deps.store.appendToStream(
      chatbotStream(chatbotId),
      toNewEvents([{ type: 'ChatbotCreated', data: created }], context),
      'no_stream',
    );
    last = position; // after the flow's: appended later
    return { flowId, chatbotId, channelId, triggers };
  };
  const survey = await bot('survey', flows.survey, [
    { type: 'keyword', value: 'survey', match: 'exact' },
    { type: 'default' },
  ]);
  const compute = await bot('compute', flows.compute, [{ type: 'default' }]);

  // 3. The read models, caught up, then the runner stopped.
  const started = performance.now();
  const runner = new ProjectionRunner(deps.store, deps.pool, allProjections, deps.logger);
  await runner.start();
  try {
    await runner.waitForProjection('flows', last, 30_000);
  } finally {
    await runner.stop();
  }
  const { rows } = await deps.admin.query(`SELECT
      (SELECT count(*)::int FROM rm.flows WHERE published_version = 1) AS flows,
      (SELECT count(*)::int FROM rm.flow_versions) AS versions,
      (SELECT count(*)::int FROM rm.chatbots WHERE enabled) AS chatbots`);
  const counts = rows[0] as { flows: number; versions: number; chatbots: number };
  if (counts.flows !== 2 || counts.versions !== 2 || counts.chatbots !== 2) {
    throw new Error(`the flows projection did not catch up: ${JSON.stringify(counts)}`);
  }
  return {
    organizationId,
    survey,
    compute,
    bareChannelId: randomUUID(),
    catchUpSeconds: (performance.now() - started) / 1000,
  };
}
