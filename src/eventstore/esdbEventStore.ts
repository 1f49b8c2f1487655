import {
  BACKWARDS,
  convertToCommandError,
  END,
  ErrorType,
  WrongExpectedVersionError as EsdbWrongExpectedVersionError,
  EventStoreDBClient,
  eventTypeFilter,
  excludeSystemEvents,
  type Filter,
  FORWARDS,
  isCommandError,
  type JSONType,
  jsonEvent,
  type Position,
  START,
  StreamNotFoundError,
  streamNameFilter,
} from '@eventstore/db-client';
import { AppError } from '../errors/catalogue.ts';
import type { SchemaRegistry } from '../schemas/schemaRegistry.ts';
import { WrongExpectedRevisionError } from './errors.ts';
import type {
  AllFilter,
  AppendResult,
  EventMetadata,
  EventStore,
  ExpectedRevision,
  NewEvent,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  SubscribeOptions,
  Subscription,
} from './eventStore.ts';
import { streamCategory } from './eventStore.ts';
import { validateEvents } from './eventValidator.ts';

/**
 * The EventStore port on EventStoreDB / KurrentDB through @eventstore/db-client 6. Thin on purpose:
 * no server runs where this is developed, so it sticks to the client's documented calls.
 *
 * Mapping: a position is the event's commit position in `$all` (for events written through the gRPC
 * API, commit = prepare = the event's own log position); resuming `after` p reads from {p, p} and drops
 * the event at p. Data and metadata are stored as JSON. Idempotence is the server's: a retried append
 * with the same event ids and an explicit expected revision stores nothing new; with `any` it is
 * best effort (the server remembers recent ids only), and ids are not unique across streams.
 */
export type EsdbEventStoreOptions = {
  /** `esdb://`, `esdb+discover://`, or their `kurrentdb` spellings. */
  url: string;
  registry: SchemaRegistry;
};

/** Events per `readAll` page: the client reads `$all` unfiltered, so filtering happens here. */
const readAllPageSize = 500;

export function createEsdbEventStore({ url, registry }: EsdbEventStoreOptions): EventStore {
  const client = EventStoreDBClient.connectionString(toEsdbConnectionString(url));
  const subscriptions = new Set<Subscription>();

  async function readStream(streamName: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const direction = options.direction ?? 'forwards';
    if (options.maxCount !== undefined && options.maxCount <= 0) return [];
    const events: RecordedEvent[] = [];
    try {
      const read = client.readStream(streamName, {
        direction: direction === 'forwards' ? FORWARDS : BACKWARDS,
        fromRevision: options.fromRevision ?? (direction === 'forwards' ? START : END),
        ...(options.maxCount === undefined ? {} : { maxCount: options.maxCount }),
      });
      for await (const resolved of read) {
        if (resolved.event) events.push(toRecordedEvent(resolved.event, resolved.commitPosition));
      }
    } catch (error) {
      if (error instanceof StreamNotFoundError) return [];
      throw toStoreError(error);
    }
    return events;
  }

  /** The position of the event at `revision`, for appends the server answered without one. */
  async function positionAt(streamName: string, revision: bigint): Promise<bigint> {
    const [event] = await readStream(streamName, { fromRevision: revision, maxCount: 1 });
    if (!event) throw new Error(`${streamName}: no event at revision ${revision} after a successful append`);
    return event.position;
  }

  /** An empty append writes nothing: check the expected revision against the stream's last event. */
  async function checkRevision(streamName: string, expected: ExpectedRevision): Promise<AppendResult> {
    const [last] = await readStream(streamName, { direction: 'backwards', maxCount: 1 });
    const actual = last?.revision ?? -1n;
    const matches =
      expected === 'any' ||
      (expected === 'no_stream' && actual === -1n) ||
      (expected === 'stream_exists' && actual !== -1n) ||
      expected === actual;
    if (!matches) throw new WrongExpectedRevisionError(streamName, expected, actual);
    return { nextExpectedRevision: actual, position: last?.position ?? -1n };
  }

  async function appendToStream(
    streamName: string,
    events: NewEvent[],
    expectedRevision: ExpectedRevision = 'any',
  ): Promise<AppendResult> {
    validateEvents(registry, events);
    if (events.length === 0) return checkRevision(streamName, expectedRevision);
    try {
      // Our ExpectedRevision values are the client's own: 'any', 'no_stream', 'stream_exists' or a bigint.
      const result = await client.appendToStream(
        streamName,
        events.map((event) =>
          jsonEvent({
            id: event.id,
            type: event.type,
            data: event.data as JSONType,
            metadata: event.metadata,
          }),
        ),
        { expectedRevision },
      );
      // The server answers with the last event's position, except for some idempotent retries.
      const position = result.position?.commit ?? (await positionAt(streamName, result.nextExpectedRevision));
      return { nextExpectedRevision: result.nextExpectedRevision, position };
    } catch (error) {
      if (error instanceof EsdbWrongExpectedVersionError) {
        const actual = error.actualVersion === 'no_stream' ? -1n : error.actualVersion;
        throw new WrongExpectedRevisionError(streamName, expectedRevision, actual);
      }
      throw toStoreError(error);
    }
  }

  async function readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    const maxCount = options.maxCount ?? Number.POSITIVE_INFINITY;
    const events: RecordedEvent[] = [];
    if (maxCount <= 0) return events;
    // The client (6.x) has no filtered readAll: page through $all and filter here.
    let from: Position | undefined = options.after === undefined ? undefined : at(options.after);
    try {
      for (;;) {
        let read = 0;
        for await (const resolved of client.readAll({
          fromPosition: from ?? START,
          maxCount: readAllPageSize,
        })) {
          read += 1;
          const event = resolved.event;
          if (!event || (from !== undefined && event.position.commit === from.commit)) continue;
          from = event.position;
          if (!matches(options.filter, event.streamId, event.type)) continue;
          events.push(toRecordedEvent(event));
          if (events.length >= maxCount) return events;
        }
        if (read < readAllPageSize) return events;
      }
    } catch (error) {
      throw toStoreError(error);
    }
  }

  function subscribeToAll(options: SubscribeOptions = {}): Subscription {
    // batchSize has no equivalent: the server pushes catch-up and live events over one gRPC stream.
    const after = options.after;
    const source = client.subscribeToAll({
      fromPosition: after === undefined ? START : at(after),
      filter: serverFilter(options.filter),
    });
    let closed = false;
    let failure: unknown;
    let iterator: AsyncGenerator<RecordedEvent> | undefined;
    // An error before anyone iterates would otherwise be an unhandled 'error' event: keep it for later.
    source.on('error', (error) => {
      failure ??= error;
    });

    const subscription: Subscription = {
      [Symbol.asyncIterator]() {
        iterator ??= iterate();
        return iterator;
      },
      async close() {
        if (closed) return;
        closed = true;
        subscriptions.delete(subscription);
        try {
          await source.unsubscribe();
        } catch {
          // The call never started or has already failed: nothing left to cancel.
        }
        source.destroy();
      },
    };

    async function* iterate(): AsyncGenerator<RecordedEvent> {
      try {
        if (closed) return;
        if (failure !== undefined) throw failure;
        for await (const resolved of source) {
          const event = resolved.event;
          if (!event || event.position.commit === after) continue;
          if (!matches(options.filter, event.streamId, event.type)) continue;
          yield toRecordedEvent(event);
        }
        // Only close() ends a subscription; the server hanging up is a failure the caller must see.
        if (!closed) {
          throw failure ?? new AppError('eventstore.unavailable', 'EventStoreDB ended the subscription');
        }
      } catch (error) {
        // Closing cancels the gRPC call and destroys the stream: that ends the iteration, quietly.
        if (!closed) throw toStoreError(error);
      } finally {
        await subscription.close();
      }
    }

    subscriptions.add(subscription);
    return subscription;
  }

  async function close(): Promise<void> {
    await Promise.all([...subscriptions].map((subscription) => subscription.close()));
    await client.dispose();
  }

  return { appendToStream, readStream, readAll, subscribeToAll, close };
}

/** The client 6.x parses only `esdb://` and `esdb+discover://`; KurrentDB's schemes mean the same. */
export function toEsdbConnectionString(url: string): string {
  return url.replace(/^kurrentdb(\+discover)?:\/\//i, (_match, discover: string | undefined) =>
    discover ? 'esdb+discover://' : 'esdb://',
  );
}

function at(position: bigint): Position {
  return { commit: position, prepare: position };
}

/** System events (`$` types: links, metadata, stats, projections' state) never reach our readers. */
function matches(filter: AllFilter | undefined, streamName: string, type: string): boolean {
  if (type.startsWith('$')) return false;
  if (filter?.categories?.length && !filter.categories.includes(streamCategory(streamName))) return false;
  if (filter?.eventTypes?.length && !filter.eventTypes.includes(type)) return false;
  return true;
}

/**
 * The server filters on stream name or on event type, not both: prefer categories (`<category>-…` and
 * the stream named `<category>`), else the exact event types, else everything but system events.
 * `matches` re-checks every event, so this only saves traffic.
 */
function serverFilter(filter: AllFilter | undefined): Filter {
  if (filter?.categories?.length) {
    return streamNameFilter({ regex: `^(?:${filter.categories.map(escapeRegex).join('|')})(?:-|$)` });
  }
  if (filter?.eventTypes?.length) {
    return eventTypeFilter({ regex: `^(?:${filter.eventTypes.map(escapeRegex).join('|')})$` });
  }
  return excludeSystemEvents();
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');
}

/** The fields of the client's recorded event that we map (JSON and binary events alike). */
type EsdbRecordedEvent = {
  streamId: string;
  id: string;
  revision: bigint;
  type: string;
  created: Date;
  data: unknown;
  metadata: unknown;
  position?: Position;
};

function toRecordedEvent(event: EsdbRecordedEvent, commitPosition?: bigint): RecordedEvent {
  // Stream reads carry positions from server 22.6 on; $all reads always do.
  const position = event.position?.commit ?? commitPosition;
  if (position === undefined) {
    throw new Error(
      `${event.streamId}@${event.revision}: EventStoreDB sent no position (server 22.6 or later needed)`,
    );
  }
  return {
    id: event.id,
    type: event.type,
    data: event.data,
    metadata: event.metadata as EventMetadata,
    streamName: event.streamId,
    revision: event.revision,
    position,
    recordedAt: event.created,
  };
}

const unavailable = new Set<string>([
  ErrorType.UNAVAILABLE,
  ErrorType.DEADLINE_EXCEEDED,
  ErrorType.TIMEOUT,
  ErrorType.NOT_LEADER,
  ErrorType.CANCELLED,
]);

/** Connection trouble → a retryable `eventstore.unavailable`; anything else is rethrown as it came. */
function toStoreError(error: unknown): unknown {
  // Some calls (the server-features probe before an append) reject with raw gRPC errors.
  const converted =
    error instanceof Error && !isCommandError(error) ? safely(convertToCommandError, error) : error;
  if (converted instanceof Error && isCommandError(converted) && unavailable.has(converted.type)) {
    // The client-facing detail stays generic; the gRPC error (with the server's address) is the cause.
    const detail = `EventStoreDB unavailable (${converted.type})`;
    const appError = new AppError('eventstore.unavailable', detail, [], { 'Retry-After': '1' });
    appError.cause = converted;
    return appError;
  }
  return error;
}

function safely(convert: (error: Error) => Error, error: Error): Error {
  try {
    return convert(error);
  } catch {
    return error;
  }
}
