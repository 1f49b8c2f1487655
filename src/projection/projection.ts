import type { DatabaseTransactionConnection, IdentifierSqlToken } from 'slonik';
import type { RecordedEvent } from '../eventstore/eventStore.ts';
import type { ConversationDelta } from '../realtime/delta.ts';

/** A projection's tables by logical name, as SQL identifiers: the live tables, or a replay's new ones. */
export type ProjectionTables<Name extends string = string> = Readonly<Record<Name, IdentifierSqlToken>>;

export type ProjectionContext<Name extends string = string> = {
  tables: ProjectionTables<Name>;
  /**
   * Queues a delta for the agent consoles. Deltas are published only after the batch (and its
   * checkpoint) commit, in the order they were queued; a replay publishes none.
   */
  publish(delta: ConversationDelta): void;
};

/**
 * A projector: the event types it handles, the tables it owns and how one event changes them. It runs
 * inside the runner's transaction, together with its checkpoint, so each event takes effect exactly
 * once. It must not throw on a recorded event it handles: a throw parks the projection.
 *
 * `tables` names its tables (logical name → live qualified name, e.g. `rm.conversations`) and
 * `createTables` creates them under any names: the runner creates the live ones on first start, and
 * `npm run replay` creates new ones, fills them from the event store and swaps them in. A change to
 * what a projection writes bumps `version`; the runner then refuses to run the new code on the old
 * tables until a replay has rebuilt them.
 */
export type Projection<Name extends string = string> = {
  name: string;
  version: number;
  eventTypes: string[];
  tables: Readonly<Record<Name, string>>;
  createTables(tx: DatabaseTransactionConnection, tables: ProjectionTables<Name>): Promise<void>;
  apply(
    tx: DatabaseTransactionConnection,
    event: RecordedEvent,
    context: ProjectionContext<Name>,
  ): Promise<void>;
};
