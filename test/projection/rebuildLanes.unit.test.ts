import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import type { RecordedEvent } from '../../src/eventstore/eventStore.ts';
import { byOrganizationLane } from '../../src/projection/rebuild.ts';

const event = (organizationId: string, position: number): RecordedEvent => ({
  id: randomUUID(),
  type: 'ThingHappened',
  data: {},
  metadata: {
    organizationId,
    correlationId: randomUUID(),
    causationId: null,
    actor: 'system',
    occurredAt: '2026-12-08T00:00:00.000Z',
    schemaVersion: 1,
  },
  streamName: `things-${position}`,
  revision: 0n,
  position: BigInt(position),
  recordedAt: new Date(0),
});

describe('byOrganizationLane', () => {
  it('keeps each organization in one lane, in order, and loses no event', () => {
    const organizations = Array.from({ length: 12 }, () => randomUUID());
    const page = Array.from({ length: 500 }, (_, n) =>
      event(organizations[n % 7 === 0 ? 0 : n % 12] as string, n + 1),
    );
    const runs = byOrganizationLane(page, 2);
    assert.ok(runs.length <= 2);
    assert.deepEqual(
      runs
        .flat()
        .map((each) => each.position)
        .sort((a, b) => Number(a - b)),
      page.map((each) => each.position),
    );
    for (const run of runs) {
      const positions = run.map((each) => each.position);
      assert.deepEqual(
        positions,
        [...positions].sort((a, b) => Number(a - b)),
        'in order',
      );
    }
    const lanesOf = new Map<string, Set<number>>();
    runs.forEach((run, lane) => {
      for (const each of run) {
        const lanes = lanesOf.get(each.metadata.organizationId) ?? new Set<number>();
        lanes.add(lane);
        lanesOf.set(each.metadata.organizationId, lanes);
      }
    });
    for (const lanes of lanesOf.values()) assert.equal(lanes.size, 1, 'one lane per organization');
  });

  it('leaves out lanes with nothing to apply', () => {
    const only = randomUUID();
    assert.deepEqual(byOrganizationLane([event(only, 1), event(only, 2)], 4).length, 1);
    assert.deepEqual(byOrganizationLane([], 2), []);
  });
});
