import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AppError } from '../../src/errors/catalogue.ts';
import type { RecordedEvent } from '../../src/eventstore/eventStore.ts';
import { readConversationAfter } from '../../src/realtime/conversationHistory.ts';
import { ConversationRelay, type RelayMember } from '../../src/realtime/conversationRelay.ts';
import { type ConversationDelta, conversationDelta } from '../../src/realtime/delta.ts';

const conversationId = '0b8f7a8e-1c9d-4b1e-9a6e-0e8a6f0a2b3c';

/** One conversation's stream in memory; positions grow by 10 per event (other streams in between). */
class FakeStream {
  readonly events: RecordedEvent[] = [];
  reads = 0;
  /** Resolvers of reads held back by `hold()`, released by `release()`. */
  private held: (() => void)[] | undefined;
  failing = false;

  append(count = 1): ConversationDelta[] {
    const deltas: ConversationDelta[] = [];
    for (let index = 0; index < count; index += 1) {
      const previous = this.events.at(-1);
      const event: RecordedEvent = {
        id: `e${this.events.length}`,
        type: 'NoteAdded',
        data: { n: this.events.length },
        metadata: {
          organizationId: 'org',
          correlationId: 'c',
          causationId: null,
          actor: 'test',
          occurredAt: '2026-01-01T00:00:00.000Z',
          schemaVersion: 1,
        },
        streamName: `conversation-${conversationId}`,
        revision: BigInt(this.events.length),
        position: BigInt(this.events.length * 10 + 10),
        recordedAt: new Date(),
      };
      this.events.push(event);
      deltas.push(conversationDelta(event, previous?.position ?? null));
    }
    return deltas;
  }

  hold(): void {
    this.held = [];
  }

  release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const resolve of held) resolve();
  }

  async readStream(
    _stream: string,
    options: { direction?: string; fromRevision?: bigint; maxCount?: number } = {},
  ): Promise<RecordedEvent[]> {
    this.reads += 1;
    if (this.held) await new Promise<void>((resolve) => this.held?.push(resolve));
    if (this.failing) throw new Error('store down');
    // A snapshot taken when the read runs, like a query.
    const from = options.fromRevision ?? BigInt(this.events.length - 1);
    return this.events
      .filter((event) => event.revision <= from)
      .reverse()
      .slice(0, options.maxCount ?? 1_000_000);
  }
}

class Member implements RelayMember {
  readonly positions: string[] = [];
  readonly errors: AppError[] = [];
  congestedNow = false;
  send(frame: string): void {
    this.positions.push(JSON.parse(frame).position);
  }
  congested(): boolean {
    return this.congestedNow;
  }
  fail(error: AppError): void {
    this.errors.push(error);
  }
}

function relayOver(stream: FakeStream, repairs = { count: 0 }) {
  let empty = false;
  const forwarded: string[] = [];
  const relay = new ConversationRelay(conversationId, {
    read: (after) => readConversationAfter(stream, conversationId, after),
    onForwarded: (delta) => forwarded.push(delta.position),
    onRepair: () => {
      repairs.count += 1;
    },
    onEmpty: () => {
      empty = true;
    },
    onError: () => undefined,
  });
  return { relay, repairs, forwarded, isEmpty: () => empty };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));
const positionsOf = (stream: FakeStream, fromIndex = 0) =>
  stream.events.slice(fromIndex).map((event) => String(event.position));

describe('conversation relay', () => {
  it('sends a joining member everything after its position, then the live deltas', async () => {
    const stream = new FakeStream();
    stream.append(5);
    const { relay } = relayOver(stream);
    const member = new Member();
    relay.join(member, 20n);
    await settle();
    for (const delta of stream.append(3)) relay.receive(delta);
    assert.deepEqual(member.positions, positionsOf(stream, 2));
  });

  it('drops duplicates and repairs a gap from the store, in order', async () => {
    const stream = new FakeStream();
    stream.append(2);
    const { relay, repairs, forwarded } = relayOver(stream);
    const member = new Member();
    relay.join(member, 20n);
    await settle();
    const deltas = stream.append(6);
    // Delivered: the 1st, the 1st again, the 4th (the 2nd and 3rd lost), the 3rd late, the 6th, the 5th.
    for (const index of [0, 0, 3, 2, 5, 4]) relay.receive(deltas[index] as ConversationDelta);
    await settle();
    await settle();
    assert.deepEqual(member.positions, positionsOf(stream, 2));
    assert.ok(repairs.count >= 1);
    // Each delta live members got is reported once (for its timing), the member's catch-up never.
    assert.deepEqual(forwarded, positionsOf(stream, 2));
    // A very late duplicate changes nothing.
    relay.receive(deltas[1] as ConversationDelta);
    assert.deepEqual(member.positions, positionsOf(stream, 2));
  });

  it('holds live deltas for a member until its store read is sent: none slips between', async () => {
    const stream = new FakeStream();
    stream.append(3);
    const { relay } = relayOver(stream);
    const live = new Member();
    relay.join(live, 30n);
    await settle();
    const late = new Member();
    stream.hold();
    relay.join(late, 10n);
    // Appended and delivered while the late member's read is in flight, some before and some after
    // the read's snapshot.
    for (const delta of stream.append(2)) relay.receive(delta);
    stream.release();
    await Promise.resolve();
    for (const delta of stream.append(2)) relay.receive(delta);
    await settle();
    for (const delta of stream.append(1)) relay.receive(delta);
    assert.deepEqual(late.positions, positionsOf(stream, 1));
    assert.deepEqual(live.positions, positionsOf(stream, 3));
  });

  it('anchors at the first read and takes the deltas held until then', async () => {
    const stream = new FakeStream();
    stream.append(2);
    const { relay } = relayOver(stream);
    const first = new Member();
    const second = new Member();
    stream.hold();
    relay.join(first, 10n);
    relay.join(second, 20n);
    const deltas = stream.append(3);
    // Delivered out of order before any read came back.
    for (const index of [2, 0, 1]) relay.receive(deltas[index] as ConversationDelta);
    stream.release();
    await settle();
    await settle();
    assert.deepEqual(first.positions, positionsOf(stream, 1));
    assert.deepEqual(second.positions, positionsOf(stream, 2));
  });

  it('pauses a catch-up while the member is congested and resumes on drain', async () => {
    const stream = new FakeStream();
    stream.append(10);
    const { relay } = relayOver(stream);
    const member = new Member();
    member.congestedNow = true;
    relay.join(member, 10n);
    await settle();
    assert.deepEqual(member.positions, []);
    for (const delta of stream.append(2)) relay.receive(delta);
    member.congestedNow = false;
    relay.drained(member);
    assert.deepEqual(member.positions, positionsOf(stream, 1));
  });

  it('refuses a position past the stream, and fails members when the store cannot be read', async () => {
    const stream = new FakeStream();
    stream.append(2);
    const ahead = new Member();
    relayOver(stream).relay.join(ahead, 999n);
    await settle();
    assert.equal(ahead.errors[0]?.code, 'eventstore.unknown_position');
    const { relay, isEmpty } = relayOver(stream);
    const member = new Member();
    relay.join(member, 20n);
    await settle();
    stream.failing = true;
    const deltas = stream.append(2);
    relay.receive(deltas[1] as ConversationDelta);
    await settle();
    assert.equal(member.errors[0]?.code, 'eventstore.unavailable');
    assert.ok(isEmpty(), 'the relay is dropped with its last member');
  });

  it('re-reads the store on a possible loss and forwards what it missed', async () => {
    const stream = new FakeStream();
    stream.append(1);
    const { relay, repairs } = relayOver(stream);
    const member = new Member();
    relay.join(member, 10n);
    await settle();
    stream.append(3); // their deltas lost
    relay.verify();
    await settle();
    assert.deepEqual(member.positions, positionsOf(stream, 1));
    assert.equal(repairs.count, 1);
    relay.verify();
    await settle();
    assert.equal(repairs.count, 1, 'nothing missed: no repair counted');
  });
});

describe('reading a conversation back from the store', () => {
  it('reads backwards in growing chunks to the position, with each delta’s previous', async () => {
    const stream = new FakeStream();
    stream.append(300);
    const history = await readConversationAfter(stream, conversationId, 50n);
    assert.equal(history.deltas.length, 295);
    assert.equal(history.head, 3000n);
    assert.equal(history.deltas[0]?.previous, '50');
    assert.equal(history.deltas[1]?.previous, history.deltas[0]?.position);
    assert.ok(stream.reads <= 4, `${stream.reads} reads`);
    const all = await readConversationAfter(stream, conversationId, 0n);
    assert.equal(all.deltas.length, 300);
    assert.equal(all.deltas[0]?.previous, null);
  });

  it('refuses to hold more than its limit', async () => {
    const stream = new FakeStream();
    stream.append(50);
    await assert.rejects(readConversationAfter(stream, conversationId, 0n, 20), {
      code: 'realtime.resume_too_far',
    });
  });
});
