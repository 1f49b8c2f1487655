import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AppError } from '../../src/errors/catalogue.ts';
import { createEsdbEventStore, toEsdbConnectionString } from '../../src/eventstore/esdbEventStore.ts';
import { SchemaRegistry, schemasDir } from '../../src/schemas/schemaRegistry.ts';
import { thing } from './contract.ts';

// What can be checked without an EventStoreDB server: the connection string, validation before any
// call, and that an unreachable server surfaces as the retryable `eventstore.unavailable`.

const registry = new SchemaRegistry([
  schemasDir,
  fileURLToPath(new URL('../fixtures/schemas/', import.meta.url)),
]);

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  assert.ok(address && typeof address === 'object');
  return address.port;
}

async function drain<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

const isUnavailable = (error: unknown) =>
  error instanceof AppError && error.code === 'eventstore.unavailable';

describe('esdbEventStore without a server', () => {
  it('reads kurrentdb:// connection strings as the esdb:// the client parses', () => {
    assert.equal(toEsdbConnectionString('kurrentdb://db:2113?tls=false'), 'esdb://db:2113?tls=false');
    assert.equal(toEsdbConnectionString('kurrentdb+discover://db:2113'), 'esdb+discover://db:2113');
    assert.equal(toEsdbConnectionString('esdb://db:2113?tls=false'), 'esdb://db:2113?tls=false');
  });

  it('refuses an invalid event before calling the server', async (t) => {
    const store = createEsdbEventStore({ url: `esdb://127.0.0.1:${await closedPort()}?tls=false`, registry });
    t.after(() => store.close());
    await assert.rejects(
      store.appendToStream('thing-1', [{ ...thing(1), data: { n: 'not a number' } }]),
      (error: unknown) => {
        return error instanceof AppError && error.code === 'eventstore.invalid_event';
      },
    );
  });

  it('answers eventstore.unavailable when the server cannot be reached', async (t) => {
    const store = createEsdbEventStore({ url: `esdb://127.0.0.1:${await closedPort()}?tls=false`, registry });
    t.after(() => store.close());
    await assert.rejects(store.appendToStream('thing-1', [thing(1)], 'no_stream'), isUnavailable);
    await assert.rejects(store.readStream('thing-1'), isUnavailable);
    await assert.rejects(store.readAll({ maxCount: 10 }), isUnavailable);
    const subscription = store.subscribeToAll({ filter: { categories: ['thing'] } });
    await assert.rejects(async () => {
      for await (const _event of subscription) assert.fail('no event can arrive');
    }, isUnavailable);
  });

  it('ends a subscription quietly when it is closed, or when the store is', async (t) => {
    const store = createEsdbEventStore({ url: `esdb://127.0.0.1:${await closedPort()}?tls=false`, registry });
    t.after(() => store.close());
    const first = store.subscribeToAll();
    const drained = drain(first);
    await first.close();
    assert.deepEqual(await drained, []);

    const second = store.subscribeToAll();
    await store.close();
    assert.deepEqual(await drain(second), []);
  });
});
