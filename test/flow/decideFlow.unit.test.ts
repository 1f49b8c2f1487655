import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { AppError } from '../../src/errors/catalogue.ts';
import type { RecordedEvent } from '../../src/eventstore/eventStore.ts';
import { decidePublish, decideSaveDraft } from '../../src/flow/decideFlow.ts';
import type { FlowDefinition } from '../../src/flow/flowDefinition.ts';
import { evolveFlow, type FlowState } from '../../src/flow/flowEvents.ts';

const org = randomUUID();
const flowId = randomUUID();
const definition: FlowDefinition = { start: 'a', nodes: [{ id: 'a', type: 'end' }] };

let revision = 0n;
const recorded = (type: string, data: unknown, organizationId = org): RecordedEvent => ({
  id: randomUUID(),
  type,
  data,
  metadata: {
    organizationId,
    correlationId: randomUUID(),
    causationId: null,
    actor: 'user',
    occurredAt: new Date().toISOString(),
    schemaVersion: 1,
  },
  streamName: `flow-${flowId}`,
  revision: revision++,
  position: revision,
  recordedAt: new Date(),
});
const given = (...events: RecordedEvent[]) => events.reduce<FlowState | undefined>(evolveFlow, undefined);
const saved = (version: number, name = 'Flow') =>
  recorded('FlowDraftSaved', { flowId, version, name, definition });
const notFound = (error: unknown) => error instanceof AppError && error.code === 'http.not_found';

describe('flow decisions', () => {
  it('saves the next version, keeping the name unless a new one is given', () => {
    const state = given(saved(1, 'First'), recorded('FlowPublished', { flowId, version: 1 }), saved(2));
    assert.deepEqual(state, { organizationId: org, name: 'Flow', latestVersion: 2, publishedVersion: 1 });
    assert.deepEqual(decideSaveDraft(state, { organizationId: org, flowId, definition }), {
      type: 'FlowDraftSaved',
      data: { flowId, version: 3, name: 'Flow', definition },
    });
    const renamed = decideSaveDraft(state, { organizationId: org, flowId, definition, name: 'New' });
    assert.equal((renamed.data as { name: string }).name, 'New');
  });

  it('publishes the latest by default, any saved version on request, nothing twice', () => {
    const state = given(saved(1), saved(2));
    assert.deepEqual(decidePublish(state, { organizationId: org, flowId }), {
      type: 'FlowPublished',
      data: { flowId, version: 2 },
    });
    assert.deepEqual(decidePublish(state, { organizationId: org, flowId, version: 1 })?.data, {
      flowId,
      version: 1,
    });
    const published = given(saved(1), saved(2), recorded('FlowPublished', { flowId, version: 2 }));
    assert.equal(decidePublish(published, { organizationId: org, flowId }), null);
    assert.throws(
      () => decidePublish(state, { organizationId: org, flowId, version: 3 }),
      (error: unknown) => error instanceof AppError && error.code === 'identity.invalid_reference',
    );
  });

  it("treats a missing flow and another organization's alike", () => {
    assert.throws(() => decideSaveDraft(undefined, { organizationId: org, flowId, definition }), notFound);
    const theirs = given(
      recorded('FlowDraftSaved', { flowId, version: 1, name: 'x', definition }, randomUUID()),
    );
    assert.throws(() => decideSaveDraft(theirs, { organizationId: org, flowId, definition }), notFound);
    assert.throws(() => decidePublish(theirs, { organizationId: org, flowId }), notFound);
  });
});
