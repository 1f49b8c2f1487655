import { randomUUID } from 'node:crypto';
import { WrongExpectedRevisionError } from '../eventstore/errors.ts';
import type { AppendResult, EventStore, NewEvent, RecordedEvent } from '../eventstore/eventStore.ts';
import { uuidPattern } from '../lang/uuid.ts';
import { deterministicId } from './deterministicId.ts';

/**
 * An event a decision produces, before the envelope is put around it. `id` is given where the same
 * input must always produce the same event (a redelivered webhook); otherwise a random one is made.
 */
export type EventDraft = { type: string; data: unknown; id?: string };

/** Who asks, for whom: becomes every resulting event's metadata. */
export type CommandContext = {
  organizationId: string;
  actor: string;
  /** Any trace id (a request id a proxy chose, say); one that is not a UUID is kept as its UUIDv5. */
  correlationId?: string;
};

export type Handled = { result: AppendResult; lastType: string };

/** Wraps drafts in the envelope every event carries. */
export function toNewEvents(drafts: EventDraft[], context: CommandContext, now = new Date()): NewEvent[] {
  const given = context.correlationId;
  const correlationId =
    given === undefined
      ? randomUUID()
      : uuidPattern.test(given)
        ? given
        : deterministicId(`correlation/${given}`);
  return drafts.map((draft) => ({
    id: draft.id ?? randomUUID(),
    type: draft.type,
    data: draft.data,
    metadata: {
      organizationId: context.organizationId,
      correlationId,
      causationId: null,
      actor: context.actor,
      occurredAt: now.toISOString(),
      schemaVersion: 1,
    },
  }));
}

/**
 * Load → decide → append with the expected revision; on a conflict (another writer got there
 * first), load again and decide again. `decide` throws an AppError for a refused command, and
 * returns [] when the command changes nothing: then nothing is appended and the answer is null.
 */
export async function handleCommand<State>(
  store: EventStore,
  streamName: string,
  evolve: (state: State | undefined, event: RecordedEvent) => State | undefined,
  decide: (state: State | undefined) => EventDraft[],
  context: CommandContext,
  maxAttempts = 5,
): Promise<Handled | null> {
  for (let attempt = 1; ; attempt += 1) {
    const history = await store.readStream(streamName);
    const state = history.reduce<State | undefined>(evolve, undefined);
    const last = history.at(-1);
    const drafts = decide(state);
    if (drafts.length === 0) return null;
    try {
      const result = await store.appendToStream(
        streamName,
        toNewEvents(drafts, context),
        last ? last.revision : 'no_stream',
      );
      return { result, lastType: drafts.at(-1)?.type ?? '' };
    } catch (error) {
      if (!(error instanceof WrongExpectedRevisionError) || attempt >= maxAttempts) throw error;
    }
  }
}
