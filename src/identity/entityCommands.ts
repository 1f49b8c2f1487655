import {
  type CommandContext,
  type EventDraft,
  handleCommand,
  toNewEvents,
} from '../eventsourcing/commandHandler.ts';
import type { EventStore, RecordedEvent } from '../eventstore/eventStore.ts';
import type { ProjectionRunner } from '../projection/projectionRunner.ts';

/** Only the store, and a way to wait for the read models. */
type Deps = { store: EventStore; projections: Pick<ProjectionRunner, 'waitFor'> };

/**
 * Starts a new stream with its first event, then waits until the read models include it, so the
 * caller's next query sees it (read-your-writes). Returns the event's position.
 */
export async function createEntity(
  deps: Deps,
  streamName: string,
  draft: EventDraft,
  context: CommandContext,
): Promise<bigint> {
  const { position } = await deps.store.appendToStream(
    streamName,
    toNewEvents([draft], context),
    'no_stream',
  );
  await deps.projections.waitFor(position, draft.type);
  return position;
}

/**
 * Decides one event against the stream's current state, appends it, and waits for the read models.
 * A decision of null (the command changes nothing) appends nothing and answers null.
 */
export async function changeEntity<State>(
  deps: Deps,
  streamName: string,
  evolve: (state: State | undefined, event: RecordedEvent) => State | undefined,
  decide: (state: State | undefined) => EventDraft,
  context: CommandContext,
): Promise<bigint>;
export async function changeEntity<State>(
  deps: Deps,
  streamName: string,
  evolve: (state: State | undefined, event: RecordedEvent) => State | undefined,
  decide: (state: State | undefined) => EventDraft | null,
  context: CommandContext,
): Promise<bigint | null>;
export async function changeEntity<State>(
  deps: Deps,
  streamName: string,
  evolve: (state: State | undefined, event: RecordedEvent) => State | undefined,
  decide: (state: State | undefined) => EventDraft | null,
  context: CommandContext,
): Promise<bigint | null> {
  const handled = await handleCommand(
    deps.store,
    streamName,
    evolve,
    (state) => {
      const draft = decide(state);
      return draft === null ? [] : [draft];
    },
    context,
  );
  if (!handled) return null;
  await deps.projections.waitFor(handled.result.position, handled.lastType);
  return handled.result.position;
}
