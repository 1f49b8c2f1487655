import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import {
  argon2Parameters,
  hashPassword,
  maxPasswordLength,
  passwordHashConcurrency,
  passwordNeedsRehash,
  primeDummyHash,
  verifyPassword,
  verifyPasswordOrDummy,
} from '../../src/identity/passwords.ts';

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

describe('passwords', () => {
  it('hashes with argon2id and the OWASP parameters, and verifies', async () => {
    const hash = await hashPassword('correct horse battery staple');
    // The PHC string's parameter order differs between argon2 releases: compare them as a set.
    const [, algorithm, version, parameters] = hash.split('$');
    assert.deepEqual([algorithm, version], ['argon2id', 'v=19']);
    assert.deepEqual(parameters?.split(',').sort(), ['m=19456', 'p=1', 't=2']);
    assert.deepEqual(
      [argon2Parameters.memoryCost, argon2Parameters.timeCost, argon2Parameters.parallelism],
      [19_456, 2, 1],
    );
    assert.equal(await verifyPassword(hash, 'correct horse battery staple'), true);
    assert.equal(await verifyPassword(hash, 'Correct horse battery staple'), false);
    assert.equal(await verifyPassword(hash, ''), false);
    assert.equal(passwordNeedsRehash(hash), false);
  });

  it('salts every hash', async () => {
    assert.notEqual(await hashPassword('same'), await hashPassword('same'));
  });

  it('flags hashes made with other parameters for a rehash', () => {
    const weaker =
      '$argon2id$v=19$m=4096,t=3,p=1$c29tZXNhbHRzb21lc2FsdA$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc';
    assert.equal(passwordNeedsRehash(weaker), true);
  });

  it('refuses absurdly long passwords: hashPassword throws, verification answers false', async () => {
    const long = 'a'.repeat(maxPasswordLength + 1);
    await assert.rejects(hashPassword(long), RangeError);
    const hash = await hashPassword('a'.repeat(maxPasswordLength));
    assert.equal(await verifyPassword(hash, 'a'.repeat(maxPasswordLength)), true);
    assert.equal(await verifyPassword(hash, long), false);
    assert.equal(await verifyPasswordOrDummy(undefined, long), false);
  });

  it('answers false for an unknown user, without a hash of theirs', async () => {
    assert.equal(await verifyPasswordOrDummy(undefined, 'anything'), false);
    const hash = await hashPassword('secret');
    assert.equal(await verifyPasswordOrDummy(hash, 'secret'), true);
    assert.equal(await verifyPasswordOrDummy(hash, 'wrong'), false);
  });

  it('runs many verifications at once correctly, taking turns below the thread pool size', async () => {
    assert.ok(passwordHashConcurrency >= 1 && passwordHashConcurrency <= 3, `${passwordHashConcurrency}`);
    const hash = await hashPassword('parallel');
    const guesses = Array.from({ length: 12 }, (_, index) =>
      index % 3 === 0 ? 'parallel' : `guess ${index}`,
    );
    const results = await Promise.all([
      ...guesses.map((guess) => verifyPassword(hash, guess)),
      verifyPasswordOrDummy(undefined, 'parallel'),
    ]);
    assert.deepEqual(results, [...guesses.map((guess) => guess === 'parallel'), false]);
  });

  it('takes similar time whether or not the user exists', async () => {
    await primeDummyHash();
    const hash = await hashPassword('the real one');
    const known: number[] = [];
    const unknown: number[] = [];
    // Interleaved, so a burst of load on the machine hits both sides alike; the bound is generous
    // (0.5x to 2x of the medians) because the point is one argon2 verification on each side, not a
    // fast answer on one of them (which would be ~1000x faster).
    await verifyPasswordOrDummy(hash, 'warm-up');
    for (let run = 0; run < 7; run++) {
      let started = performance.now();
      await verifyPasswordOrDummy(hash, 'a wrong guess');
      known.push(performance.now() - started);
      started = performance.now();
      await verifyPasswordOrDummy(undefined, 'a wrong guess');
      unknown.push(performance.now() - started);
    }
    const ratio = median(unknown) / median(known);
    assert.ok(
      ratio > 0.5 && ratio < 2,
      `unknown/known median ratio ${ratio.toFixed(2)} (${median(unknown).toFixed(1)} ms vs ${median(known).toFixed(1)} ms)`,
    );
  });
});
