import type { DatabaseTransactionConnection } from 'slonik';
import type { RecordedEvent } from '../eventstore/eventStore.ts';

/**
 * A projector: the event types it handles and how one event changes its read-model tables. It runs
 * inside the runner's transaction, together with its checkpoint, so each event takes effect exactly
 * once. It must not throw on a recorded event it handles: a throw parks the projection.
 */
export type Projection = {
  name: string;
  version: number;
  eventTypes: string[];
  apply(tx: DatabaseTransactionConnection, event: RecordedEvent): Promise<void>;
};
