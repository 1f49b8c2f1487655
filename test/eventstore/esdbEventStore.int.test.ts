import { randomBytes, randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DuplicateEventIdError, WrongExpectedRevisionError } from '../../src/eventstore/errors.ts';
import { createEsdbEventStore } from '../../src/eventstore/esdbEventStore.ts';
import type { AllFilter, EventStore, RecordedEvent } from '../../src/eventstore/eventStore.ts';
import { SchemaRegistry, schemasDir } from '../../src/schemas/schemaRegistry.ts';
import { eventStoreContract, thing } from './contract.ts';

const url = process.env.EVENTSTORE_URL;

if (url === undefined || url === '') {
  test('EventStoreDB contract', {
    skip: 'EVENTSTORE_URL is not set: no EventStoreDB server to test against',
  }, () => {});
} else {
  const registry = new SchemaRegistry([
    schemasDir,
    fileURLToPath(new URL('../fixtures/schemas/', import.meta.url)),
  ]);
  // The server is shared and keeps everything: this run writes `<prefix><stream>` and sees only those,
  // from a floor position taken when it started, as if the store were new.
  const prefix = `t${randomBytes(6).toString('hex')}_`;
  let floor: Promise<bigint> | undefined;

  eventStoreContract('EventStoreDB', async () => {
    const store = createEsdbEventStore({ url, registry });
    try {
      floor ??= markStart(store);
      return { store: namespaced(store, prefix, await floor), close: () => store.close() };
    } catch (error) {
      await store.close();
      throw error;
    }
  });
}

/** Appends a marker outside the run's prefix; its position is where this run's `$all` begins. */
async function markStart(store: EventStore): Promise<bigint> {
  const marker = { ...thing(0), data: { n: 0, note: 'esdbEventStore.int.test.ts started' } };
  const { position } = await store.appendToStream(`testrun-${randomUUID()}`, [marker]);
  return position;
}

const pageSize = 500;

/** The store seen through a stream-name prefix: names gain it on the way in and lose it on the way out. */
function namespaced(store: EventStore, prefix: string, floor: bigint): EventStore {
  const own = (event: RecordedEvent) => event.streamName.startsWith(prefix);
  const strip = (event: RecordedEvent): RecordedEvent => ({
    ...event,
    streamName: event.streamName.slice(prefix.length),
  });
  const withPrefix = (filter: AllFilter | undefined): AllFilter | undefined =>
    filter?.categories
      ? { ...filter, categories: filter.categories.map((category) => prefix + category) }
      : filter;
  const unprefixed = (error: unknown): unknown => {
    if (error instanceof WrongExpectedRevisionError) {
      return new WrongExpectedRevisionError(
        error.streamName.slice(prefix.length),
        error.expected,
        error.actual,
      );
    }
    if (error instanceof DuplicateEventIdError) {
      return new DuplicateEventIdError(error.streamName.slice(prefix.length), error.eventId);
    }
    return error;
  };

  return {
    async appendToStream(streamName, events, expectedRevision) {
      try {
        return await store.appendToStream(prefix + streamName, events, expectedRevision);
      } catch (error) {
        throw unprefixed(error);
      }
    },
    async readStream(streamName, options) {
      return (await store.readStream(prefix + streamName, options)).map(strip);
    },
    async readAll(options = {}) {
      const maxCount = options.maxCount ?? Number.POSITIVE_INFINITY;
      const events: RecordedEvent[] = [];
      let after = options.after ?? floor;
      while (events.length < maxCount) {
        // Other runs may write between ours: page until enough of this run's events are found.
        const page = await store.readAll({ after, maxCount: pageSize, filter: withPrefix(options.filter) });
        events.push(...page.filter(own).map(strip));
        const last = page.at(-1);
        if (!last || page.length < pageSize) break;
        after = last.position;
      }
      return events.slice(0, maxCount);
    },
    subscribeToAll(options = {}) {
      const inner = store.subscribeToAll({
        ...options,
        after: options.after ?? floor,
        filter: withPrefix(options.filter),
      });
      return {
        async *[Symbol.asyncIterator]() {
          for await (const event of inner) if (own(event)) yield strip(event);
        },
        close: () => inner.close(),
      };
    },
    close: () => store.close(),
  };
}
