import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TokenBucket, TokenBuckets } from '../../src/whatsapp/tokenBucket.ts';

/** Takes `count` tokens at `now`, returning each answer. */
const takeMany = (bucket: TokenBucket, count: number, now: number): number[] =>
  Array.from({ length: count }, () => bucket.take(now));

describe('TokenBucket', () => {
  it('lets a full burst through, then paces one token per 1000 / rate ms', () => {
    const bucket = new TokenBucket(2, 3, 0);
    assert.deepEqual(takeMany(bucket, 3, 0), [0, 0, 0]);
    assert.equal(bucket.take(0), 500);
    assert.equal(bucket.take(500), 0);
    assert.equal(bucket.take(500), 500);
    assert.equal(bucket.take(1000), 0);
    assert.equal(bucket.take(1500), 0);
    assert.equal(bucket.take(1500), 500);
  });

  it('answers the wait without spending: asking again later answers less, then lets it through', () => {
    const bucket = new TokenBucket(1, 1, 0);
    assert.equal(bucket.take(0), 0);
    assert.equal(bucket.take(0), 1000);
    assert.equal(bucket.take(0), 1000, 'a refused take spends nothing');
    assert.equal(bucket.take(250), 750);
    assert.equal(bucket.take(750), 250);
    assert.equal(bucket.take(1000), 0);
    assert.equal(bucket.take(1000), 1000);
  });

  it('rounds the wait up to whole milliseconds, so waiting that long always finds a token', () => {
    const bucket = new TokenBucket(3, 1, 0);
    assert.equal(bucket.take(0), 0);
    const wait = bucket.take(0);
    assert.equal(wait, 334);
    assert.equal(bucket.take(wait), 0);
  });

  it('refills over time, never beyond its capacity', () => {
    const bucket = new TokenBucket(10, 5, 0);
    assert.deepEqual(takeMany(bucket, 5, 0), [0, 0, 0, 0, 0]);
    // 250 ms at 10/s: two and a half tokens, so two sends.
    assert.deepEqual(takeMany(bucket, 3, 250), [0, 0, 50]);
    // An hour idle fills it to 5, not 36 000.
    assert.deepEqual(takeMany(bucket, 6, 3_600_000), [0, 0, 0, 0, 0, 100]);
  });

  it('starts full', () => {
    const bucket = new TokenBucket(1, 80, 1_000_000);
    assert.ok(bucket.idle(1_000_000));
    assert.deepEqual(new Set(takeMany(bucket, 80, 1_000_000)), new Set([0]));
    assert.equal(bucket.take(1_000_000), 1000);
  });

  it('is idle only once full again', () => {
    const bucket = new TokenBucket(2, 2, 0);
    bucket.take(0);
    bucket.take(0);
    assert.equal(bucket.idle(0), false);
    assert.equal(bucket.idle(500), false);
    assert.equal(bucket.idle(999), false);
    assert.equal(bucket.idle(1000), true);
    assert.equal(bucket.idle(5000), true);
  });

  it('paces at a new rate once set', () => {
    const bucket = new TokenBucket(1, 1, 0);
    assert.equal(bucket.take(0), 0);
    assert.equal(bucket.take(0), 1000);
    bucket.reconfigure(4, 1, 0);
    assert.equal(bucket.take(0), 250);
    assert.equal(bucket.take(250), 0);
    bucket.reconfigure(0.5, 1, 250);
    assert.equal(bucket.take(250), 2000);
    assert.equal(bucket.take(2250), 0);
  });

  it('counts the time already passed at the old rate when the rate changes', () => {
    const bucket = new TokenBucket(1, 10, 0);
    for (let i = 0; i < 10; i += 1) assert.equal(bucket.take(0), 0);
    // One second at 1/s refills one token; a rate raised afterwards does not reach back.
    bucket.reconfigure(100, 10, 1000);
    assert.equal(bucket.take(1000), 0);
    assert.equal(bucket.take(1000), 10);
  });
});

describe('TokenBuckets', () => {
  /** The buckets it holds, read through its private map (forgetting is otherwise invisible by design). */
  const held = (buckets: TokenBuckets): Map<string, TokenBucket> =>
    Reflect.get(buckets, 'buckets') as Map<string, TokenBucket>;

  it('keeps one bucket per key', () => {
    const buckets = new TokenBuckets();
    assert.equal(buckets.take('number-a', 1, 2, 0), 0);
    assert.equal(buckets.take('number-a', 1, 2, 0), 0);
    assert.equal(buckets.take('number-a', 1, 2, 0), 1000);
    assert.equal(buckets.take('number-b', 1, 2, 0), 0, 'another key has its own bucket');
    assert.equal(buckets.take('number-a', 1, 2, 1000), 0);
    assert.equal(held(buckets).size, 2);
  });

  it('applies the rate given with each take', () => {
    const buckets = new TokenBuckets();
    assert.equal(buckets.take('number-a', 1, 1, 0), 0);
    assert.equal(buckets.take('number-a', 1, 1, 0), 1000);
    assert.equal(buckets.take('number-a', 10, 1, 0), 100);
    assert.equal(buckets.take('number-a', 10, 1, 100), 0);
  });

  it('forgets full buckets when it reaches its limit, and keeps the ones still refilling', () => {
    const buckets = new TokenBuckets(3);
    buckets.take('a', 1, 1, 0); // empty until 1000
    buckets.take('b', 1, 1, 0);
    buckets.take('c', 100, 1, 0); // full again at 10
    assert.deepEqual([...held(buckets).keys()], ['a', 'b', 'c']);

    // At the limit, a new key sweeps first: only c is full again.
    buckets.take('d', 1, 1, 500);
    assert.deepEqual([...held(buckets).keys()], ['a', 'b', 'd']);
    assert.equal(buckets.take('a', 1, 1, 500), 500, 'a kept its state: still refilling');

    // Later every old bucket is full: all are forgotten, and rebuilt full when used again.
    buckets.take('e', 1, 1, 10_000);
    assert.deepEqual([...held(buckets).keys()], ['e']);
    assert.equal(buckets.take('a', 1, 1, 10_000), 0);
  });

  it('does not sweep below its limit, nor for a key it already holds', () => {
    const buckets = new TokenBuckets(2);
    buckets.take('a', 1000, 1, 0);
    buckets.take('b', 1000, 1, 0);
    buckets.take('a', 1000, 1, 60_000);
    assert.deepEqual([...held(buckets).keys()], ['a', 'b']);
  });

  it('grows past its limit when no bucket is full, rather than forget one still refilling', () => {
    const buckets = new TokenBuckets(1);
    buckets.take('a', 1, 1, 0);
    buckets.take('b', 1, 1, 0);
    assert.deepEqual([...held(buckets).keys()], ['a', 'b']);
    assert.equal(buckets.take('a', 1, 1, 0), 1000);
  });
});
