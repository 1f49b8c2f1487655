import type { DatabaseTransactionConnection } from 'slonik';
import type { RecordedEvent } from '../../../src/eventstore/eventStore.ts';
import type { Projection, ProjectionContext } from '../../../src/projection/projection.ts';

/** A projection that applies a batch one event at a time with `apply`, as every projector once did. */
export function perEvent<Name extends string>(
  projection: Projection<Name>,
  apply: (
    tx: DatabaseTransactionConnection,
    event: RecordedEvent,
    context: ProjectionContext<Name>,
  ) => Promise<void>,
): Projection<Name> {
  return {
    ...projection,
    async applyBatch(tx, events, context) {
      for (const event of events) await apply(tx, event, context);
    },
  };
}
