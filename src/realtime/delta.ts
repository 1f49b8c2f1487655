import { type RecordedEvent, streamId } from '../eventstore/eventStore.ts';
import { waitingForAgents } from '../flow/flowRun.ts';

/**
 * What the agent consoles receive, as it travels between the projector and the WebSocket gateway of
 * every node (in process, or through Redis with REDIS_URL).
 *
 * One delta per conversation event. Positions are `$all` positions as decimal strings; within one
 * conversation they only grow, so a relay keeps the last position it forwarded per conversation,
 * drops anything at or below it (duplicates) and, when a delta's `previous` is not what it forwarded
 * last, reads the missed events from the event store before going on (a lost or reordered message).
 */
export type ConversationDelta = {
  organizationId: string;
  conversationId: string;
  position: string;
  /** Position of the conversation's event before this one; null for its first event. */
  previous: string | null;
  event: { type: string; data: unknown; occurredAt: string };
  /**
   * The conversation's inbox item after this event (the shape of `GET /conversations` items), set on
   * the last delta of a conversation in each projected batch; null otherwise.
   */
  inbox: InboxUpdate | null;
  /**
   * When the delta passed each hop (deltaTiming.ts), for /metrics; never sent to clients. Absent on an
   * item re-sent after a possible loss, and on a delta from a node that does not stamp them.
   */
  hops?: DeltaHops;
};

/**
 * Wall-clock times in ms since the epoch (the clock Postgres stamps `recordedAt` with, comparable
 * between nodes up to their clock skew), each set by the hop it names.
 */
export type DeltaHops = {
  /** The event's `recordedAt`: its append transaction began. */
  appendedAt: number;
  /** Its batch committed (projectionRunner); absent on a delta read back from the store. */
  projectedAt?: number;
  /** Handed to the bus (serialized, for Redis). */
  publishedAt?: number;
  /** Heard from the bus on this node. */
  receivedAt?: number;
  /** Its first frame written to a socket on this node (the hub). */
  writtenAt?: number;
};

export type InboxUpdate = {
  item: Record<string, unknown> & { id: string; position: string };
  /**
   * Agents and queues that see the conversation now or saw it before this event: an agent limited to
   * their own and their queues' conversations also hears that one left their view.
   */
  audience: { assigneeIds: string[]; queueIds: string[] };
};

export type DeltaListener = (deltas: readonly ConversationDelta[]) => void;

/** Carries deltas from the node that projected them to every node's gateway, in publish order. */
export interface DeltaBus {
  publish(deltas: readonly ConversationDelta[]): void;
  subscribe(listener: DeltaListener): () => void;
  /**
   * Deltas may have been lost (the Redis subscriber reconnected): the listener re-checks what it
   * serves against the event store and the read models.
   */
  onPossibleLoss(listener: () => void): () => void;
  close(): Promise<void>;
}

/** A single node: deltas go straight from the projector to the gateway. */
export class InProcessDeltaBus implements DeltaBus {
  private readonly listeners = new Set<DeltaListener>();

  publish(deltas: readonly ConversationDelta[]): void {
    if (deltas.length === 0) return;
    const now = Date.now();
    for (const { hops } of deltas) {
      if (hops) {
        hops.publishedAt = now;
        hops.receivedAt = now;
      }
    }
    for (const listener of this.listeners) listener(deltas);
  }

  subscribe(listener: DeltaListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onPossibleLoss(): () => void {
    return () => {};
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }
}

/**
 * The delta of one conversation event, without an inbox item, stamped with the event's append time:
 * what a projection publishes (adding the item) and a relay sends when it reads missed events back
 * from the store. `previous` is the position of the stream's event before it.
 */
export function conversationDelta(event: RecordedEvent, previous: bigint | null): ConversationDelta {
  return {
    organizationId: event.metadata.organizationId,
    conversationId: streamId(event.streamName),
    position: String(event.position),
    previous: previous === null ? null : String(previous),
    event: { type: event.type, data: forConsoles(event), occurredAt: event.metadata.occurredAt },
    inbox: null,
    hops: { appendedAt: event.recordedAt.getTime() },
  };
}

/** Event data as agents see it: a flow's pending API request stays out (see waitingForAgents). */
function forConsoles(event: RecordedEvent): unknown {
  if (event.type !== 'FlowAdvanced') return event.data;
  const data = event.data as { waiting: { kind: string; request?: unknown } | null };
  return { ...data, waiting: waitingForAgents(data.waiting) };
}
