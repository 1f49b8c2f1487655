import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql } from 'slonik';
import { flowsProjection } from '../../projections/flows.ts';
import { toNewEvents } from '../../src/eventsourcing/commandHandler.ts';
import type { FlowDefinition } from '../../src/flow/flowDefinition.ts';
import { chatbotStream, flowStream } from '../../src/flow/flowEvents.ts';
import { ProjectionRunner, tableIdentifiers } from '../../src/projection/projectionRunner.ts';
import { rebuildProjection } from '../../src/projection/rebuild.ts';
import { openTestEventStore, testLogger } from '../support/database.ts';

const definition = (text: string): FlowDefinition => ({
  start: 'a',
  nodes: [
    { id: 'a', type: 'text', text, next: 'b' },
    { id: 'b', type: 'end' },
  ],
});

describe('flows projection', { timeout: 60_000 }, () => {
  let env: Awaited<ReturnType<typeof openTestEventStore>>;
  let runner: ProjectionRunner;
  before(async () => {
    env = await openTestEventStore('flows_projection');
    runner = new ProjectionRunner(env.store, env.pool, [flowsProjection], testLogger);
    await runner.start();
  });
  after(async () => {
    await runner?.stop();
    await env?.close();
  });

  const org = randomUUID();
  const append = async (stream: string, type: string, data: unknown) => {
    const { position } = await env.store.appendToStream(
      stream,
      toNewEvents([{ type, data }], { organizationId: org, actor: 'system' }),
    );
    await runner.waitFor(position, type);
  };
  /** Every row of the three tables, as text, in a stable order (read past row-level security). */
  const snapshot = async () =>
    Promise.all(
      Object.values(flowsProjection.tables).map((table) =>
        env.pool.anyFirst(sql.unsafe`SELECT t::text FROM ${sql.identifier(table.split('.'))} t ORDER BY 1`),
      ),
    );

  it('keeps every version, the latest and published ones, and chatbots; applying again changes nothing', async () => {
    const flowId = randomUUID();
    const chatbotId = randomUUID();
    const channelId = randomUUID();
    for (const version of [1, 2, 3]) {
      await append(flowStream(flowId), 'FlowDraftSaved', {
        flowId,
        version,
        name: `Name ${version}`,
        definition: definition(`v${version}`),
      });
      if (version === 2) await append(flowStream(flowId), 'FlowPublished', { flowId, version });
    }
    await append(chatbotStream(chatbotId), 'ChatbotCreated', {
      chatbotId,
      name: 'Bot',
      channelId,
      flowId,
      triggers: [{ type: 'default' }],
      businessHours: { timezone: 'UTC', weekly: [{ day: 'mon', from: '09:00', to: '17:00' }] },
      enabled: true,
    });
    await append(chatbotStream(chatbotId), 'ChatbotUpdated', { name: 'Renamed', businessHours: null });
    await append(chatbotStream(chatbotId), 'ChatbotUpdated', { enabled: false });

    const flow = await env.pool.one(sql.unsafe`SELECT name, latest_version, published_version FROM rm.flows
      WHERE organization_id = ${org} AND flow_id = ${flowId}`);
    assert.deepEqual(flow, { name: 'Name 3', latest_version: 3, published_version: 2 });
    const versions =
      await env.pool.any(sql.unsafe`SELECT version, name, definition, published_at IS NOT NULL AS published
      FROM rm.flow_versions WHERE organization_id = ${org} AND flow_id = ${flowId} ORDER BY version`);
    assert.deepEqual(
      versions.map((row) => ({ ...row })),
      [1, 2, 3].map((version) => ({
        version,
        name: `Name ${version}`,
        definition: definition(`v${version}`),
        published: version === 2,
      })),
    );
    const chatbot =
      await env.pool.one(sql.unsafe`SELECT name, channel_id, flow_id, triggers, business_hours, enabled
      FROM rm.chatbots WHERE organization_id = ${org} AND chatbot_id = ${chatbotId}`);
    assert.deepEqual(
      { ...chatbot },
      {
        name: 'Renamed',
        channel_id: channelId,
        flow_id: flowId,
        triggers: [{ type: 'default' }],
        business_hours: null,
        enabled: false,
      },
    );

    // Redelivered (a crash between apply and checkpoint): the same rows.
    const before = await snapshot();
    const events = await env.store.readAll({ filter: { eventTypes: flowsProjection.eventTypes } });
    const context = { tables: tableIdentifiers(flowsProjection.tables), publish: () => {} };
    await env.pool.transaction((tx) => flowsProjection.applyBatch(tx, events, context));
    assert.deepEqual(await snapshot(), before);

    // A replay builds the same tables.
    await rebuildProjection({ store: env.store, pool: env.pool }, flowsProjection);
    assert.deepEqual(await snapshot(), before);
  });
});
