import { AppError } from '../errors/catalogue.ts';
import type { ExpectedRevision } from './eventStore.ts';

/** The stream moved on since the writer read it: reload, decide again, retry. */
export class WrongExpectedRevisionError extends AppError {
  constructor(
    readonly streamName: string,
    readonly expected: ExpectedRevision,
    /** The stream's last revision, or -1n when it does not exist. */
    readonly actual: bigint,
  ) {
    super(
      'eventstore.wrong_expected_revision',
      `${streamName}: expected revision ${String(expected)}, stream is at ${actual === -1n ? 'no_stream' : String(actual)}`,
    );
  }
}

/** An event id that is already stored in another stream (or at another place in this one). */
export class DuplicateEventIdError extends AppError {
  constructor(
    readonly streamName: string,
    readonly eventId: string,
  ) {
    super('eventstore.duplicate_event_id', `${streamName}: event id ${eventId} is already stored elsewhere`);
  }
}
