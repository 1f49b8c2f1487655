/**
 * The event-store port. Two implementations stand behind it — Postgres (default) and EventStoreDB —
 * and both pass test/eventstore/contract.ts.
 *
 * Revisions count from 0 within a stream. A position identifies one event in `$all` and is the token
 * a reader hands back to resume after that event; `$all` order is the order in which appends became
 * durable, which is not numeric position order in Postgres (see postgresEventStore.ts).
 */

/** Who caused an event: a user id, or one of the system actors. */
export type EventActor = string;

export type EventMetadata = {
  organizationId: string;
  correlationId: string;
  causationId: string | null;
  actor: EventActor;
  /** ISO 8601 UTC. */
  occurredAt: string;
  schemaVersion: number;
};

export type NewEvent<Type extends string = string, Data = unknown> = {
  /** A UUID. Deterministic where the source has an id, so a retried append stores nothing new. */
  id: string;
  type: Type;
  data: Data;
  metadata: EventMetadata;
};

export type RecordedEvent<Type extends string = string, Data = unknown> = NewEvent<Type, Data> & {
  streamName: string;
  revision: bigint;
  position: bigint;
  recordedAt: Date;
};

/** `no_stream`: the stream must not exist; `stream_exists`: it must; a bigint: its last revision. */
export type ExpectedRevision = 'any' | 'no_stream' | 'stream_exists' | bigint;

export type AppendResult = {
  /** The stream's revision after the append: pass it as the next expected revision. */
  nextExpectedRevision: bigint;
  /** Position of the last event appended (or of the last one stored earlier, for a retried append). */
  position: bigint;
};

export type ReadStreamOptions = {
  direction?: 'forwards' | 'backwards';
  /** Inclusive. Defaults to the start (forwards) or the end (backwards). */
  fromRevision?: bigint;
  maxCount?: number;
};

export type AllFilter = {
  /** Stream categories: the part of the stream name before the first `-`. */
  categories?: string[];
  eventTypes?: string[];
};

export type ReadAllOptions = {
  /** Resume after this event's position; absent: from the beginning. */
  after?: bigint;
  maxCount?: number;
  filter?: AllFilter;
};

export type SubscribeOptions = {
  after?: bigint;
  filter?: AllFilter;
  /** How many events to read per catch-up batch. */
  batchSize?: number;
};

/**
 * A catch-up-then-live subscription. Iterate it: each event arrives once, in `$all` order. The
 * iterator waits for new appends after catching up. `close()` ends the iteration.
 */
export interface Subscription extends AsyncIterable<RecordedEvent> {
  close(): Promise<void>;
}

export interface EventStore {
  appendToStream(
    streamName: string,
    events: NewEvent[],
    expectedRevision?: ExpectedRevision,
  ): Promise<AppendResult>;
  readStream(streamName: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  readAll(options?: ReadAllOptions): Promise<RecordedEvent[]>;
  subscribeToAll(options?: SubscribeOptions): Subscription;
  /**
   * How many events `$all` holds after `after` that pass `filter`, counting at most `limit`: a
   * projection's lag in events. Optional: a store that cannot count cheaply leaves it out.
   */
  countAfter?(after: bigint | undefined, filter: AllFilter, limit: number): Promise<number>;
  close(): Promise<void>;
}

/** `conversation-1234…` → `conversation`. */
export function streamCategory(streamName: string): string {
  const dash = streamName.indexOf('-');
  return dash === -1 ? streamName : streamName.slice(0, dash);
}

/** `conversation-1234…` → `1234…`: the id of the entity the stream belongs to. */
export function streamId(streamName: string): string {
  return streamName.slice(streamName.indexOf('-') + 1);
}
