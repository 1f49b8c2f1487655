import { AppError } from '../errors/catalogue.ts';
import type { ConversationHistory } from './conversationHistory.ts';
import type { ConversationDelta } from './delta.ts';
import { deltaFrame } from './frames.ts';

/** One socket's subscription to a conversation topic, as the relay sees it. */
export interface RelayMember {
  send(frame: string): void;
  /** Too much unsent data: the catch-up waits for `relay.drained(member)` before sending more. */
  congested(): boolean;
  /** The relay cannot go on for this member without a gap: it has left, the client must resubscribe. */
  fail(error: AppError): void;
}

export type RelayDeps = {
  /** The conversation's deltas after a position, from the event store (conversationHistory.ts). */
  read(after: bigint): Promise<ConversationHistory>;
  /** A delta's frame went to at least one live member (live deltas only, not a member's catch-up). */
  onForwarded(delta: ConversationDelta): void;
  /** A gap was found (a lost or reordered delta, or one missed while the bus was away) and filled. */
  onRepair(): void;
  /** The last member left: the relay forgets its position and can be dropped. */
  onEmpty(relay: ConversationRelay): void;
  onError(error: unknown): void;
};

type Membership = {
  /** Position of the last delta sent to the member (or where it asked to start). */
  position: bigint;
  phase: 'reading' | 'sending' | 'live';
  /** Read from the store, still to send. */
  backlog: ConversationDelta[];
  /** Forwarded live while the member was catching up. */
  buffered: ConversationDelta[];
};

/** Attempts at filling one gap before the members are failed (they resume with `after`). */
const maxRepairAttempts = 3;

/**
 * The single path of one conversation's deltas to this node's sockets, alive while any socket
 * subscribes. Every step below runs on the one JS thread, so nothing slips between a read and the
 * live stream.
 *
 * 1. It remembers the last position it forwarded (`last`); a delta at or below it is a duplicate and
 *    dropped; a delta whose `previous` is not `last` follows a gap: the missed events are read back
 *    from the store and forwarded first, and deltas arriving meanwhile are held, then taken in order.
 * 2. A socket joining with `after` reads the store past that position itself while the relay keeps
 *    forwarding; what the relay forwards meanwhile is buffered for it. It gets the store's events,
 *    then the buffered ones past what it got, each checked to follow the one before (else it reads
 *    again), and only then goes live. Catch-up sends pause while the socket is congested.
 * 3. Until the first reader comes back, the relay has no `last`: deltas are held, and the first read
 *    anchors it at the stream's head. Each member also keeps its own position, so a member that read
 *    further than the relay forwarded is never sent a delta twice.
 */
export class ConversationRelay {
  readonly topic: string;
  /** Last position forwarded; undefined until the first read anchors it. */
  private last: bigint | undefined;
  private repairing = false;
  private repairAttempts = 0;
  private held: ConversationDelta[] = [];
  private readonly members = new Map<RelayMember, Membership>();
  private disposed = false;

  constructor(
    readonly conversationId: string,
    private readonly deps: RelayDeps,
  ) {
    this.topic = `conversation:${conversationId}`;
  }

  get size(): number {
    return this.members.size;
  }

  /** The member gets every delta after `after`, in order, then the live ones. */
  join(member: RelayMember, after: bigint): void {
    if (this.last !== undefined && !this.repairing && this.last === after) {
      this.members.set(member, { position: after, phase: 'live', backlog: [], buffered: [] });
      return;
    }
    const membership: Membership = { position: after, phase: 'reading', backlog: [], buffered: [] };
    this.members.set(member, membership);
    this.readFor(member, membership, true);
  }

  leave(member: RelayMember): void {
    if (!this.members.delete(member)) return;
    if (this.members.size === 0) {
      this.disposed = true;
      this.deps.onEmpty(this);
    }
  }

  /** The member's buffer drained: go on with its catch-up. */
  drained(member: RelayMember): void {
    const membership = this.members.get(member);
    if (membership?.phase === 'sending') this.send(member, membership);
  }

  /** A delta of this conversation from the bus. */
  receive(delta: ConversationDelta): void {
    if (this.last === undefined || this.repairing) {
      this.held.push(delta);
      return;
    }
    const position = BigInt(delta.position);
    if (position <= this.last) return;
    if (delta.previous !== null && BigInt(delta.previous) === this.last) {
      this.forward(delta, position);
      return;
    }
    this.held.push(delta);
    this.repair(true);
  }

  /** Deltas may have been lost on the bus: read what the store has past `last`. */
  verify(): void {
    if (this.last !== undefined && !this.repairing) this.repair(false);
  }

  private forward(delta: ConversationDelta, position: bigint): void {
    this.last = position;
    let frame: string | undefined;
    for (const [member, membership] of this.members) {
      if (membership.phase !== 'live') {
        membership.buffered.push(delta);
      } else if (position > membership.position) {
        membership.position = position;
        frame ??= deltaFrame(this.topic, delta);
        member.send(frame);
      }
    }
    if (frame !== undefined) this.deps.onForwarded(delta);
  }

  private repair(gap: boolean): void {
    this.repairing = true;
    const from = this.last as bigint;
    this.deps.read(from).then(
      (history) => {
        if (this.disposed) return;
        this.repairing = false;
        const found = history.deltas.some((delta) => BigInt(delta.position) > from);
        if (gap || found) this.deps.onRepair();
        for (const delta of history.deltas) {
          const position = BigInt(delta.position);
          if (position > (this.last as bigint)) this.forward(delta, position);
        }
        this.repairAttempts = found || !gap ? 0 : this.repairAttempts + 1;
        if (this.repairAttempts >= maxRepairAttempts) {
          this.failAll(
            new AppError('eventstore.unavailable', 'The event store does not have the missed events'),
          );
          return;
        }
        this.release();
      },
      (error: unknown) => {
        if (this.disposed) return;
        this.deps.onError(error);
        this.failAll(asAppError(error));
      },
    );
  }

  /** Takes the held deltas again, in order (a new gap among them holds the rest again). */
  private release(): void {
    const held = this.held;
    this.held = [];
    for (const delta of held) this.receive(delta);
  }

  private readFor(member: RelayMember, membership: Membership, first: boolean): void {
    membership.phase = 'reading';
    const after = membership.position;
    this.deps.read(after).then(
      (history) => {
        if (this.members.get(member) !== membership) return;
        if (first && history.head !== null && after > history.head) {
          this.drop(
            member,
            new AppError('eventstore.unknown_position', `No event of this conversation at ${after}`),
          );
          return;
        }
        membership.backlog.push(...history.deltas);
        membership.phase = 'sending';
        const reached = history.head !== null && history.head > after ? history.head : after;
        if (this.last === undefined) {
          this.last = reached;
          this.release();
        }
        if (this.members.get(member) === membership) this.send(member, membership);
      },
      (error: unknown) => {
        if (this.members.get(member) !== membership) return;
        this.deps.onError(error);
        this.drop(member, asAppError(error));
      },
    );
  }

  /** Sends the member's backlog, then what was buffered for it, then makes it live. */
  private send(member: RelayMember, membership: Membership): void {
    for (;;) {
      while (membership.backlog.length > 0) {
        if (member.congested()) return;
        const delta = membership.backlog.shift() as ConversationDelta;
        const position = BigInt(delta.position);
        if (position <= membership.position) continue;
        membership.position = position;
        member.send(deltaFrame(this.topic, delta));
        if (this.members.get(member) !== membership) return;
      }
      const buffered = membership.buffered.filter((delta) => BigInt(delta.position) > membership.position);
      membership.buffered = [];
      const next = buffered[0];
      if (next === undefined) break;
      if (next.previous === null || BigInt(next.previous) !== membership.position) {
        // The relay's chain starts past what this member read: read the stretch between.
        membership.buffered = buffered;
        this.readFor(member, membership, false);
        return;
      }
      membership.backlog = buffered;
    }
    if (this.last !== undefined && this.last > membership.position) {
      this.readFor(member, membership, false);
      return;
    }
    membership.phase = 'live';
  }

  private drop(member: RelayMember, error: AppError): void {
    this.leave(member);
    member.fail(error);
  }

  private failAll(error: AppError): void {
    for (const member of [...this.members.keys()]) this.drop(member, error);
  }
}

function asAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  return new AppError(
    'eventstore.unavailable',
    'The event store could not be read; subscribe again with "after"',
  );
}
