import type { DatabaseTransactionConnection, IdentifierSqlToken } from 'slonik';
import type { RecordedEvent } from '../eventstore/eventStore.ts';
import type { ConversationDelta } from '../realtime/delta.ts';

/** A projection's tables by logical name, as SQL identifiers: the live tables, or a replay's new ones. */
export type ProjectionTables<Name extends string = string> = Readonly<Record<Name, IdentifierSqlToken>>;

export type ProjectionContext<Name extends string = string> = {
  tables: ProjectionTables<Name>;
  /**
   * Queues a delta for the agent consoles. Deltas are published only after the batch (and its
   * checkpoint) commit, in the order they were queued. Null in a replay, which publishes none: a
   * projector then need not build them.
   */
  publish: ((delta: ConversationDelta) => void) | null;
};

/**
 * A projector: the event types it handles, the tables it owns and how a batch of events changes them.
 * It runs inside the runner's transaction, together with its checkpoint, so each event takes effect
 * exactly once. A batch is any run of consecutive events of its types, in `$all` order, from one event
 * (the live path) to thousands (a backlog, a replay): applying a history in batches of any size must
 * leave the same rows and publish the same deltas as applying it one event at a time. The set-based
 * projectors fold a batch in memory and write each table with a few multi-row statements. It must not
 * throw on a recorded event it handles: a throw parks the projection (on the event, which the runner
 * finds by applying the batch again one event at a time).
 *
 * Each row of its tables belongs to one organization, and only that organization's events change it:
 * a replay applies the events of different organizations at once, in transactions of their own.
 *
 * `tables` names its tables (logical name → live qualified name, e.g. `rm.conversations`) and
 * `createTables` creates them under any names, with the keys its writes need; `createIndexes`, where
 * there is one, adds the indexes only its readers need. The runner creates the live ones on first start
 * (both, see createProjectionTables), and `npm run replay` creates new ones, fills them from the event
 * store, indexes them and swaps them in (indexing a filled table costs less than indexing every write). A change to
 * what a projection writes bumps `version`; the runner then refuses to run the new code on the old
 * tables until a replay has rebuilt them.
 */
export type Projection<Name extends string = string> = {
  name: string;
  version: number;
  eventTypes: string[];
  tables: Readonly<Record<Name, string>>;
  createTables(tx: DatabaseTransactionConnection, tables: ProjectionTables<Name>): Promise<void>;
  createIndexes?(tx: DatabaseTransactionConnection, tables: ProjectionTables<Name>): Promise<void>;
  applyBatch(
    tx: DatabaseTransactionConnection,
    events: readonly RecordedEvent[],
    context: ProjectionContext<Name>,
  ): Promise<void>;
};

/** A projection's tables with all their indexes, ready to be read and written. */
export async function createProjectionTables<Name extends string>(
  tx: DatabaseTransactionConnection,
  projection: Projection<Name>,
  tables: ProjectionTables<Name>,
): Promise<void> {
  await projection.createTables(tx, tables);
  await projection.createIndexes?.(tx, tables);
}
