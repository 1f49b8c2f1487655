import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config/config.ts';
import {
  addressKey,
  failureWindowSeconds,
  LoginRateLimiter,
  maxFailuresPerAccount,
  maxFailuresPerAddress,
} from '../../src/identity/rateLimiter.ts';

function setup(options: ConstructorParameters<typeof LoginRateLimiter>[0] = {}) {
  const clock = { now: Date.UTC(2026, 10, 25) };
  const limiter = new LoginRateLimiter({ ...options, clock: () => clock.now });
  /** One login attempt that fails, as the login route runs it. */
  const fail = (keys: { account?: string; address?: string }) => {
    const decision = limiter.check(keys);
    if (decision.allowed) limiter.recordFailure(keys);
    return decision;
  };
  return { clock, limiter, fail };
}

describe('login rate limiter', () => {
  it('defaults to 5 failures per account and 20 per address in 15 minutes', () => {
    assert.deepEqual([maxFailuresPerAccount, maxFailuresPerAddress, failureWindowSeconds], [5, 20, 900]);
    const config = loadConfig({});
    assert.deepEqual(
      [
        config.LOGIN_FAILURES_PER_ACCOUNT,
        config.LOGIN_FAILURES_PER_ADDRESS,
        config.LOGIN_FAILURE_WINDOW_SECONDS,
      ],
      [5, 20, 900],
    );
  });

  it('refuses an account after 5 failures, from any address, with the time to wait', () => {
    const { clock, limiter, fail } = setup();
    for (let attempt = 0; attempt < 5; attempt++) {
      assert.equal(fail({ account: 'ana@example.com', address: `10.0.0.${attempt}` }).allowed, true);
      clock.now += 60_000;
    }
    // The first failure was 5 minutes ago: 10 minutes to go.
    assert.deepEqual(limiter.check({ account: 'ANA@example.com ', address: '10.0.0.99' }), {
      allowed: false,
      retryAfterSeconds: 600,
    });
    assert.equal(limiter.check({ account: 'bob@example.com', address: '10.0.0.99' }).allowed, true);
  });

  it('refuses an address after 20 failures, across accounts', () => {
    const { limiter, fail } = setup();
    for (let attempt = 0; attempt < 20; attempt++) {
      assert.equal(fail({ account: `user${attempt}@example.com`, address: '203.0.113.7' }).allowed, true);
    }
    const decision = limiter.check({ account: 'fresh@example.com', address: '203.0.113.7' });
    assert.equal(decision.allowed, false);
    assert.equal(decision.retryAfterSeconds, 900);
    assert.equal(limiter.check({ account: 'fresh@example.com', address: '203.0.113.8' }).allowed, true);
  });

  it('lets attempts through again as failures leave the sliding window', () => {
    const { clock, limiter, fail } = setup();
    for (let attempt = 0; attempt < 5; attempt++) {
      fail({ account: 'ana@example.com' });
      clock.now += 1_000;
    }
    assert.equal(limiter.check({ account: 'ana@example.com' }).allowed, false);
    clock.now += 900_000 - 5_000; // exactly when the first failure leaves the window
    assert.equal(fail({ account: 'ana@example.com' }).allowed, true);
    // One slot freed, one used: refused again until the second failure leaves.
    assert.deepEqual(limiter.check({ account: 'ana@example.com' }), { allowed: false, retryAfterSeconds: 1 });
    clock.now += 1_000;
    assert.equal(limiter.check({ account: 'ana@example.com' }).allowed, true);
  });

  it('reserves a slot per allowed check, so a burst of parallel guesses cannot outrun the limit', () => {
    const { clock, limiter } = setup();
    const keys = { account: 'ana@example.com', address: '198.51.100.1' };
    const allowed = Array.from({ length: 50 }, () => limiter.check(keys)).filter(
      (decision) => decision.allowed,
    );
    assert.equal(allowed.length, 5);
    for (const _ of allowed) limiter.recordFailure(keys);
    assert.equal(limiter.check(keys).allowed, false);
    // Slots whose outcome never came (the request crashed) lapse after 30 seconds.
    const other = { account: 'bob@example.com' };
    for (let attempt = 0; attempt < 5; attempt++) assert.equal(limiter.check(other).allowed, true);
    assert.deepEqual(limiter.check(other), { allowed: false, retryAfterSeconds: 30 });
    clock.now += 30_000;
    assert.equal(limiter.check(other).allowed, true);
  });

  it('clears the account on a successful login and frees the address slot', () => {
    const { limiter, fail } = setup();
    const keys = { account: 'ana@example.com', address: '198.51.100.1' };
    for (let attempt = 0; attempt < 4; attempt++) fail(keys);
    assert.equal(limiter.check(keys).allowed, true);
    limiter.recordSuccess(keys);
    assert.equal(limiter.size.accounts, 0);
    // The address keeps its 4 failures; 16 more successful logins from it are never refused.
    for (let login = 0; login < 40; login++) {
      const other = { account: `user${login}@example.com`, address: keys.address };
      assert.equal(limiter.check(other).allowed, true, `login ${login}`);
      limiter.recordSuccess(other);
    }
    for (let attempt = 0; attempt < 5; attempt++) fail({ account: 'ana@example.com' });
    assert.equal(limiter.check({ account: 'ana@example.com' }).allowed, false);
    limiter.reset('Ana@Example.com');
    assert.equal(limiter.check({ account: 'ana@example.com' }).allowed, true);
  });

  it('counts an IPv6 client by its /64 and an IPv4-mapped one as IPv4', () => {
    assert.equal(addressKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:0DB8:0001:0002:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64');
    // A dual-stack socket's spelling of an IPv4 client is that IPv4 address, not a shared /64.
    assert.equal(addressKey('0000:0000:0000:0000:0000:ffff:7f00:0001'), '127.0.0.1');
    assert.equal(addressKey('0:0:0:0:0:ffff:c0a8:0102'), '192.168.1.2');
    assert.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(addressKey('::1'), '0:0:0:0::/64');
    assert.equal(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
    assert.equal(addressKey('::ffff:192.0.2.1'), '192.0.2.1');
    assert.equal(addressKey('192.0.2.1'), '192.0.2.1');
    assert.equal(addressKey(''), undefined);
    const { limiter, fail } = setup({ maxPerAddress: 3 });
    for (let attempt = 0; attempt < 3; attempt++) fail({ address: `2001:db8:1:2::${attempt + 1}` });
    assert.equal(limiter.check({ address: '2001:db8:1:2:ffff::9' }).allowed, false);
    assert.equal(limiter.check({ address: '2001:db8:1:3::1' }).allowed, true);
  });

  it('takes its limits from the configuration', () => {
    const clock = { now: 0 };
    const limiter = LoginRateLimiter.fromConfig(
      loadConfig({ LOGIN_FAILURES_PER_ACCOUNT: '2', LOGIN_FAILURE_WINDOW_SECONDS: '60' }),
      () => clock.now,
    );
    for (let attempt = 0; attempt < 2; attempt++) {
      limiter.check({ account: 'a' });
      limiter.recordFailure({ account: 'a' });
    }
    assert.deepEqual(limiter.check({ account: 'a' }), { allowed: false, retryAfterSeconds: 60 });
  });

  it('stays bounded: expired entries are swept and the number of keys is capped', () => {
    const { clock, limiter, fail } = setup({ maxTrackedKeys: 100 });
    for (let attempt = 0; attempt < 1000; attempt++) {
      fail({ account: `user${attempt}@example.com`, address: `10.1.${attempt >> 8}.${attempt & 255}` });
    }
    assert.deepEqual(limiter.size, { accounts: 100, addresses: 100 });
    // The most recent keys are the ones kept.
    for (let attempt = 0; attempt < 4; attempt++) fail({ account: 'user999@example.com' });
    assert.equal(limiter.check({ account: 'user999@example.com' }).allowed, false);

    clock.now += 900_000;
    for (let attempt = 0; attempt < 60; attempt++) {
      fail({ account: `late${attempt}@example.com`, address: `192.0.2.${attempt}` });
    }
    // Each write sweeps a few expired entries from the front: the 100 expired ones are gone, not
    // waiting for the cap to push them out.
    assert.deepEqual(limiter.size, { accounts: 60, addresses: 60 });
  });
});
