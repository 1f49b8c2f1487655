import { AppError } from '../errors/catalogue.ts';
import type { EventStore, RecordedEvent } from '../eventstore/eventStore.ts';
import { type ConversationDelta, conversationDelta } from './delta.ts';

/** Most events one catch-up (a resume or a gap repair) reads back from the store. */
export const maxCatchUpEvents = 10_000;

export type ConversationHistory = {
  /** The conversation's deltas after `after`, oldest first, each with its `previous`. */
  deltas: ConversationDelta[];
  /** Position of the stream's newest event when it was read; null when the stream is empty. */
  head: bigint | null;
};

/**
 * Reads a conversation's events after `after` back from the event store, as deltas. The stream is
 * read backwards from its end, in chunks growing from a few events (the usual case: nothing or little
 * was missed) until an event at or below `after` or the stream's start, because a position does not
 * say which revision it is. More than `limit` events → `realtime.resume_too_far`: the caller should
 * reload the conversation over HTTP rather than hold that many in memory.
 */
export async function readConversationAfter(
  store: Pick<EventStore, 'readStream'>,
  conversationId: string,
  after: bigint,
  limit = maxCatchUpEvents,
): Promise<ConversationHistory> {
  const stream = `conversation-${conversationId}`;
  const newestFirst: RecordedEvent[] = [];
  let head: bigint | null = null;
  let boundary: bigint | null = null;
  let fromRevision: bigint | undefined;
  let chunk = 16;
  for (;;) {
    const events = await store.readStream(stream, {
      direction: 'backwards',
      maxCount: chunk,
      ...(fromRevision === undefined ? {} : { fromRevision }),
    });
    const first = events[0];
    if (head === null && first) head = first.position;
    let reachedAfter = false;
    for (const event of events) {
      if (event.position <= after) {
        boundary = event.position;
        reachedAfter = true;
        break;
      }
      newestFirst.push(event);
    }
    if (newestFirst.length > limit) {
      throw new AppError(
        'realtime.resume_too_far',
        `More than ${limit} events since position ${after}: reload the conversation and subscribe without "after"`,
      );
    }
    const last = events.at(-1);
    if (reachedAfter || !last || events.length < chunk || last.revision === 0n) break;
    fromRevision = last.revision - 1n;
    chunk = Math.min(chunk * 4, 1000);
  }
  const deltas: ConversationDelta[] = [];
  let previous = boundary;
  for (let index = newestFirst.length - 1; index >= 0; index -= 1) {
    const event = newestFirst[index] as RecordedEvent;
    deltas.push(conversationDelta(event, previous));
    previous = event.position;
  }
  return { deltas, head };
}
