import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { Registry } from 'prom-client';
import { sql } from 'slonik';
import { DuplicateEventIdError, WrongExpectedRevisionError } from '../../src/eventstore/errors.ts';
import type { RecordedEvent } from '../../src/eventstore/eventStore.ts';
import { createTestDatabase, openTestEventStore } from '../support/database.ts';
import { eventStoreContract, take, thing } from './contract.ts';

eventStoreContract('Postgres', () => openTestEventStore('es_contract'));

describe('Postgres event store', () => {
  let env: Awaited<ReturnType<typeof openTestEventStore>>;
  const metricsRegistry = new Registry();
  before(async () => {
    env = await openTestEventStore('es_postgres', { poolSize: 24, metricsRegistry });
  });
  after(async () => {
    await env.close();
  });

  it('refuses an event id already stored in another stream', async () => {
    const event = thing(1);
    await env.store.appendToStream('dup-a', [event]);
    await assert.rejects(env.store.appendToStream('dup-b', [event]), DuplicateEventIdError);
    assert.deepEqual(await env.store.readStream('dup-b'), []);
  });

  it('group-commits concurrent appends, each answered on its own', async () => {
    const appends = Array.from({ length: 300 }, (_, index) =>
      env.store.appendToStream(`group-${index % 100}`, [thing(index)], 'any'),
    );
    // One of these conflicts; its neighbours in the same batch must still succeed.
    const conflicting = env.store.appendToStream('group-0', [thing(-1)], 'no_stream');
    const results = await Promise.allSettled([...appends, conflicting]);
    assert.equal(results.filter((result) => result.status === 'fulfilled').length, 300);
    const last = results.at(-1);
    assert.ok(last?.status === 'rejected' && last.reason instanceof WrongExpectedRevisionError);
    const counts = await env.pool.oneFirst(
      sql.unsafe`SELECT count(DISTINCT revision)::int FROM es.events WHERE stream_name LIKE 'group-%'`,
    );
    assert.equal(counts, 3);
  });

  it('reports appends, batch sizes and the oldest transaction in its metrics', async () => {
    const event = thing(1);
    await env.store.appendToStream('metrics-1', [event, thing(2)], 'no_stream');
    await env.store.appendToStream('metrics-1', [event], 'any'); // already stored: a duplicate
    await assert.rejects(env.store.appendToStream('metrics-1', [thing(3)], 'no_stream'));
    const text = await metricsRegistry.metrics();
    assert.match(text, /eventstore_appends_total\{outcome="ok"\} [1-9]/);
    assert.match(text, /eventstore_appends_total\{outcome="duplicate"\} [1-9]/);
    assert.match(text, /eventstore_appends_total\{outcome="wrong_expected_revision"\} [1-9]/);
    assert.match(text, /eventstore_events_appended_total [2-9]/);
    assert.match(text, /eventstore_append_batch_size_count [1-9]/);
    assert.match(text, /eventstore_oldest_transaction_seconds \d/);
  });

  it('lets exactly one of two writers with the same expected revision win', async () => {
    await env.store.appendToStream('race-1', [thing(0)], 'no_stream');
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, index) => env.store.appendToStream('race-1', [thing(index)], 0n)),
    );
    assert.equal(results.filter((result) => result.status === 'fulfilled').length, 1);
    assert.equal(
      results.filter(
        (result) => result.status === 'rejected' && result.reason instanceof WrongExpectedRevisionError,
      ).length,
      9,
    );
  });

  it('orders $all by transaction id as a number, not as text', async () => {
    // Transactions 9 and 10 (long finished, so below every snapshot): as text, '10' sorts first.
    for (const [transactionId, n] of [
      ['10', 2],
      ['9', 1],
    ] as const) {
      const event = thing(n);
      await env.pool.query(sql.unsafe`
        INSERT INTO es.events (transaction_id, event_id, stream_name, category, revision, type, data, metadata)
        VALUES (${transactionId}::xid8, ${event.id}, ${`xidorder-${n}`}, 'xidorder', 0, ${event.type},
                ${JSON.stringify(event.data)}, ${JSON.stringify(event.metadata)})`);
    }
    const all = await env.store.readAll({ filter: { categories: ['xidorder'] } });
    assert.deepEqual(
      all.map((event) => event.data),
      [{ n: 1 }, { n: 2 }],
    );
  });

  it('reads past a transaction running in another database, but waits for one in its own', async () => {
    const other = await createTestDatabase('es_other_db');
    const elsewhere = new pg.Client({ connectionString: other.url });
    const here = new pg.Client({ connectionString: env.db.url });
    await elsewhere.connect();
    await here.connect();
    try {
      for (const client of [elsewhere, here]) {
        await client.query('BEGIN');
        await client.query('SELECT pg_current_xact_id()'); // holds a transaction id from now on
      }
      await env.store.appendToStream('horizon-1', [thing(1)]);
      const read = () => env.store.readAll({ filter: { categories: ['horizon'] } });
      assert.deepEqual(await read(), [], 'an older transaction of this database may still append');
      await here.query('COMMIT');
      assert.equal((await read()).length, 1, 'the other database does not hold the reader back');
    } finally {
      await elsewhere.query('ROLLBACK');
      await Promise.all([elsewhere.end(), here.end()]);
      await other.drop();
    }
  });

  it('answers a retry that races its uncommitted original as a duplicate, with no_stream or any', async () => {
    for (const expected of ['-1', '-2']) {
      const stream = `retryrace-${expected}`;
      const events = [thing(1)];
      const original = new pg.Client({ connectionString: env.db.url });
      const retry = new pg.Client({ connectionString: env.db.url });
      await Promise.all([original.connect(), retry.connect()]);
      try {
        await original.query('BEGIN');
        await original.query(appendSql, appendParams(stream, events, expected));
        const retried = retry.query(appendSql, appendParams(stream, events, expected)); // waits for the lock
        await new Promise((resolve) => setTimeout(resolve, 50));
        await original.query('COMMIT');
        assert.equal((await retried).rows[0]?.outcome, 'duplicate', `expected revision ${expected}`);
      } finally {
        await Promise.all([original.end(), retry.end()]);
      }
    }
  });

  it('answers per request when one new event id appears in two streams of one batch', async () => {
    const event = thing(1);
    const { rows } = await env.pool.query(sql.unsafe`
      SELECT ord, outcome FROM es.append_batch(
        ${sql.array(['twice-a', 'twice-b'], 'text')}, ${sql.array(['twice', 'twice'], 'text')},
        ${sql.array(['-2', '-2'], 'int8')}, ${sql.array([1, 1], 'int4')},
        ${sql.array([event.id, event.id], 'uuid')}, ${sql.array([event.type, event.type], 'text')},
        ${sql.array([JSON.stringify(event.data), JSON.stringify(event.data)], 'jsonb')},
        ${sql.array([JSON.stringify(event.metadata), JSON.stringify(event.metadata)], 'jsonb')})`);
    assert.deepEqual(
      rows.map((row) => [row.ord, row.outcome]),
      [
        [1, 'ok'],
        [2, 'duplicate_id'],
      ],
    );
  });

  it('leaves nothing behind from an append whose connection is killed before commit', async () => {
    const client = new pg.Client({ connectionString: env.db.url });
    await client.connect();
    client.on('error', () => undefined);
    await client.query('BEGIN');
    await client.query(appendSql, appendParams('killed-1', [thing(1)]));
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    await env.pool.query(sql.unsafe`SELECT pg_terminate_backend(${rows[0]?.pid ?? 0})`);
    await client.end().catch(() => undefined);
    assert.deepEqual(await env.store.readStream('killed-1'), []);
    // The stream is free for the next writer, and $all is not held back by the dead transaction.
    await env.store.appendToStream('killed-1', [thing(2)], 'no_stream');
    const all = await env.store.readAll({ filter: { categories: ['killed'] } });
    assert.deepEqual(
      all.map((event) => event.data),
      [{ n: 2 }],
    );
  });

  it('never lets a live subscriber skip an event, even when transactions commit out of position order', async () => {
    const streams = Array.from({ length: 40 }, (_, index) => `conc-${index}`);
    const writers = 16;
    const appendsPerWriter = 60;
    const total = writers * appendsPerWriter + 2;
    const subscription = env.store.subscribeToAll({ filter: { categories: ['conc'] }, batchSize: 50 });

    // One inversion for certain: the first transaction takes its id, a second appends and commits,
    // then the first appends (a larger position under a smaller transaction id) and commits.
    const first = new pg.Client({ connectionString: env.db.url });
    await first.connect();
    await first.query('BEGIN');
    await first.query('SELECT pg_current_xact_id()');
    await env.store.appendToStream('conc-0', [thing(999_001)], 'any');
    await first.query(appendSql, appendParams('conc-1', [thing(999_002)]));
    await first.query('COMMIT');
    await first.end();
    const received = take(subscription, total, 60_000);

    // Then half the writers hold their transaction open for a random while after taking positions, so
    // later positions routinely commit first; the other half go through the store (group commit).
    const slowWriter = async (writer: number) => {
      const client = new pg.Client({ connectionString: env.db.url });
      await client.connect();
      try {
        for (let index = 0; index < appendsPerWriter; index += 1) {
          const stream = streams[(writer * 7 + index) % streams.length] ?? 'conc-0';
          await client.query('BEGIN');
          await client.query(appendSql, appendParams(stream, [thing(writer * 1000 + index)]));
          await client.query('SELECT pg_sleep($1)', [Math.random() * 0.02]);
          await client.query('COMMIT');
        }
      } finally {
        await client.end();
      }
    };
    const storeWriter = async (writer: number) => {
      for (let index = 0; index < appendsPerWriter; index += 1) {
        const stream = streams[(writer * 11 + index) % streams.length] ?? 'conc-0';
        await env.store.appendToStream(stream, [thing(writer * 1000 + index)], 'any');
      }
    };
    await Promise.all(
      Array.from({ length: writers }, (_, writer) =>
        writer % 2 === 0 ? slowWriter(writer) : storeWriter(writer),
      ),
    );

    const events = await received;
    await subscription.close();
    assert.equal(events.length, total, 'every event arrives');
    assert.equal(new Set(events.map((event) => event.id)).size, total, 'no event arrives twice');

    const lastRevision = new Map<string, bigint>();
    for (const event of events) {
      const previous = lastRevision.get(event.streamName) ?? -1n;
      assert.equal(event.revision, previous + 1n, `${event.streamName} arrives in revision order`);
      lastRevision.set(event.streamName, event.revision);
    }
    // Proof that the test exercised the gap: a reader following `position > checkpoint` would
    // have skipped the events that arrived after a larger position.
    assert.ok(inversions(events) > 0, 'some transactions committed out of position order');
    const stored = await env.pool.oneFirst(
      sql.unsafe`SELECT count(*)::int FROM es.events WHERE category = 'conc'`,
    );
    assert.equal(stored, total);
  });
});

const appendSql = 'SELECT * FROM es.append_batch($1, $2, $3, $4, $5, $6, $7, $8)';

function appendParams(stream: string, events: ReturnType<typeof thing>[], expected = '-2'): unknown[] {
  return [
    [stream],
    [stream.split('-')[0]],
    [expected],
    [events.length],
    events.map((event) => event.id),
    events.map((event) => event.type),
    events.map((event) => JSON.stringify(event.data)),
    events.map((event) => JSON.stringify({ ...event.metadata, correlationId: randomUUID() })),
  ];
}

function inversions(events: RecordedEvent[]): number {
  let count = 0;
  let highest = 0n;
  for (const event of events) {
    if (event.position < highest) count += 1;
    else highest = event.position;
  }
  return count;
}
