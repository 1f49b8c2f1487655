import {
  type CommandContext,
  type EventDraft,
  handleCommand,
  toNewEvents,
} from '../eventsourcing/commandHandler.ts';
import type { RecordedEvent } from '../eventstore/eventStore.ts';
import type { IdentityDeps } from './identityDeps.ts';

type Deps = Pick<IdentityDeps, 'store' | 'projections'>;

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

/** Decides one event against the stream's current state, appends it, and waits for the read models. */
export async function changeEntity<State>(
  deps: Deps,
  streamName: string,
  evolve: (state: State | undefined, event: RecordedEvent) => State | undefined,
  decide: (state: State | undefined) => EventDraft,
  context: CommandContext,
): Promise<bigint> {
  const { result, lastType } = await handleCommand(
    deps.store,
    streamName,
    evolve,
    (state) => [decide(state)],
    context,
  );
  await deps.projections.waitFor(result.position, lastType);
  return result.position;
}
