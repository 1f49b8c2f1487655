import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { AppError } from '../../src/errors/catalogue.ts';
import { WrongExpectedRevisionError } from '../../src/eventstore/errors.ts';
import type { EventStore, NewEvent, RecordedEvent, Subscription } from '../../src/eventstore/eventStore.ts';

const organizationId = randomUUID();

export function thing(n: number, type = 'ThingHappened', id: string = randomUUID()): NewEvent {
  return {
    id,
    type,
    data: { n },
    metadata: {
      organizationId,
      correlationId: randomUUID(),
      causationId: null,
      actor: 'system',
      occurredAt: new Date().toISOString(),
      schemaVersion: 1,
    },
  };
}

/** Takes `count` events from a subscription, failing after `timeoutMs`. */
export async function take(
  subscription: Subscription,
  count: number,
  timeoutMs = 10_000,
): Promise<RecordedEvent[]> {
  const seen: RecordedEvent[] = [];
  if (count === 0) return seen;
  const iterator = subscription[Symbol.asyncIterator]();
  const timeout = new Promise<never>((_, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`only ${seen.length} of ${count} events arrived`)),
      timeoutMs,
    );
    timer.unref();
  });
  while (seen.length < count) {
    const next = await Promise.race([iterator.next(), timeout]);
    if (next.done) break;
    seen.push(next.value);
  }
  return seen;
}

/**
 * The behaviour every EventStore implementation must show. Each test uses its own stream category,
 * so the suite can run against a shared server.
 */
export function eventStoreContract(
  name: string,
  open: () => Promise<{ store: EventStore; close(): Promise<void> }>,
): void {
  describe(`EventStore contract: ${name}`, () => {
    let store: EventStore;
    let close: () => Promise<void>;
    const category = () => `t${randomBytes(6).toString('hex')}`;

    before(async () => {
      ({ store, close } = await open());
    });
    after(async () => {
      await close();
    });

    it('appends to a new stream and reads it back intact', async () => {
      const stream = `${category()}-1`;
      const events = [thing(1), thing(2)];
      const result = await store.appendToStream(stream, events, 'no_stream');
      assert.equal(result.nextExpectedRevision, 1n);
      const read = await store.readStream(stream);
      assert.deepEqual(
        read.map((event) => [
          event.id,
          event.type,
          event.data,
          event.metadata,
          event.revision,
          event.streamName,
        ]),
        events.map((event, index) => [
          event.id,
          event.type,
          event.data,
          event.metadata,
          BigInt(index),
          stream,
        ]),
      );
      assert.equal(read[1]?.position, result.position);
      assert.ok(read[0]?.recordedAt instanceof Date);
    });

    it('checks the expected revision', async () => {
      const stream = `${category()}-1`;
      await store.appendToStream(stream, [thing(1)], 'no_stream');
      await assert.rejects(store.appendToStream(stream, [thing(2)], 'no_stream'), WrongExpectedRevisionError);
      await assert.rejects(store.appendToStream(stream, [thing(2)], 5n), (error: unknown) => {
        assert.ok(error instanceof WrongExpectedRevisionError);
        assert.equal(error.actual, 0n);
        assert.equal(error.code, 'eventstore.wrong_expected_revision');
        return true;
      });
      await assert.rejects(
        store.appendToStream(`${category()}-missing`, [thing(1)], 'stream_exists'),
        (error: unknown) => error instanceof WrongExpectedRevisionError && error.actual === -1n,
      );
      assert.equal((await store.appendToStream(stream, [thing(2)], 0n)).nextExpectedRevision, 1n);
      assert.equal(
        (await store.appendToStream(stream, [thing(3)], 'stream_exists')).nextExpectedRevision,
        2n,
      );
      assert.equal((await store.appendToStream(stream, [thing(4)], 'any')).nextExpectedRevision, 3n);
      assert.equal((await store.readStream(stream)).length, 4);
    });

    it('treats a retried append with the same event ids as done, storing nothing twice', async () => {
      const stream = `${category()}-1`;
      const events = [thing(1), thing(2)];
      const first = await store.appendToStream(stream, events, 'no_stream');
      const retried = await store.appendToStream(stream, events, 'no_stream');
      assert.deepEqual(retried, first);
      const again = await store.appendToStream(stream, events, 'any');
      assert.equal(again.nextExpectedRevision, 1n);
      assert.equal((await store.readStream(stream)).length, 2);
    });

    it('refuses events that do not match their schema, naming the type and the path', async () => {
      const stream = `${category()}-1`;
      const bad = { ...thing(1), data: { n: 'one' } };
      await assert.rejects(store.appendToStream(stream, [thing(0), bad]), (error: unknown) => {
        assert.ok(error instanceof AppError);
        assert.equal(error.code, 'eventstore.invalid_event');
        assert.match(error.message, /ThingHappened/);
        assert.deepEqual(error.errors[0]?.path, '/1/data/n');
        return true;
      });
      await assert.rejects(
        store.appendToStream(stream, [thing(1, 'NoSuchEvent')]),
        /no schema events\/NoSuchEvent\.v1/,
      );
      const noOrg = thing(1);
      noOrg.metadata = { ...noOrg.metadata, organizationId: 'acme' };
      await assert.rejects(store.appendToStream(stream, [noOrg]), /metadata \/organizationId/);
      await assert.rejects(
        store.appendToStream(stream, [{ ...thing(1), id: 'not-a-uuid' }]),
        /id must be a UUID/,
      );
      assert.deepEqual(await store.readStream(stream), []);
    });

    it('reads a stream backwards, from a revision, and a bounded count', async () => {
      const stream = `${category()}-1`;
      await store.appendToStream(
        stream,
        [0, 1, 2, 3, 4].map((n) => thing(n)),
      );
      const data = (events: RecordedEvent[]) => events.map((event) => (event.data as { n: number }).n);
      assert.deepEqual(data(await store.readStream(stream, { direction: 'backwards' })), [4, 3, 2, 1, 0]);
      assert.deepEqual(data(await store.readStream(stream, { fromRevision: 2n, maxCount: 2 })), [2, 3]);
      assert.deepEqual(
        data(await store.readStream(stream, { direction: 'backwards', fromRevision: 2n, maxCount: 2 })),
        [2, 1],
      );
      assert.deepEqual(await store.readStream(`${category()}-nothing`), []);
    });

    it('reads $all after a position, filtered by category or event type', async () => {
      const mine = category();
      await store.appendToStream(`${mine}-a`, [thing(1), thing(2, 'OtherThingHappened')]);
      await store.appendToStream(`${category()}-elsewhere`, [thing(99)]);
      await store.appendToStream(`${mine}-b`, [thing(3)]);
      const all = await store.readAll({ filter: { categories: [mine] }, maxCount: 10_000 });
      assert.deepEqual(
        all.map((event) => (event.data as { n: number }).n),
        [1, 2, 3],
      );
      const afterFirst = await store.readAll({ after: all[0]?.position, filter: { categories: [mine] } });
      assert.deepEqual(
        afterFirst.map((event) => event.id),
        all.slice(1).map((event) => event.id),
      );
      const others = await store.readAll({
        filter: { categories: [mine], eventTypes: ['OtherThingHappened'] },
      });
      assert.deepEqual(
        others.map((event) => event.type),
        ['OtherThingHappened'],
      );
    });

    it('subscribes to $all: catches up, then receives live appends, each once and in order', async () => {
      const mine = category();
      await store.appendToStream(`${mine}-1`, [thing(1), thing(2)]);
      const subscription = store.subscribeToAll({ filter: { categories: [mine] } });
      try {
        const caughtUp = await take(subscription, 2);
        assert.deepEqual(
          caughtUp.map((event) => (event.data as { n: number }).n),
          [1, 2],
        );
        await store.appendToStream(`${mine}-2`, [thing(3)]);
        await store.appendToStream(`${mine}-1`, [thing(4)]);
        const live = await take(subscription, 2);
        assert.deepEqual(
          live.map((event) => (event.data as { n: number }).n),
          [3, 4],
        );
      } finally {
        await subscription.close();
      }
    });

    it('subscribes after a position and ends when closed', async () => {
      const mine = category();
      const first = await store.appendToStream(`${mine}-1`, [thing(1)]);
      await store.appendToStream(`${mine}-1`, [thing(2)]);
      const subscription = store.subscribeToAll({ after: first.position, filter: { categories: [mine] } });
      const [event] = await take(subscription, 1);
      assert.deepEqual(event?.data, { n: 2 });
      const iterator = subscription[Symbol.asyncIterator]();
      const pending = iterator.next();
      await subscription.close();
      const outcome = await Promise.race([
        pending,
        new Promise((resolve) => setTimeout(() => resolve('still waiting'), 3000).unref()),
      ]);
      assert.notEqual(outcome, 'still waiting');
    });
  });
}
