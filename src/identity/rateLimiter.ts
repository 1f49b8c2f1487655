import { isIPv4, isIPv6 } from 'node:net';
import type { Config } from '../config/config.ts';

/**
 * Failed-login limiting, per account (the email, lower-cased) and per client address, over a sliding
 * window: an account takes 5 failures and an address 20 per 15 minutes, then login answers 429 until
 * the oldest failure leaves the window. The account limit stops guessing one password from many
 * addresses; the address limit stops one client spraying a common password over many accounts.
 * Each key keeps only the timestamps of its last `limit` failures, so the count is exact (no burst at
 * a window boundary, as a fixed window allows) and the memory per key small.
 *
 * Concurrency: a login verifies its password for tens of milliseconds between asking and reporting, so
 * a burst of parallel guesses could all pass a plain check. `check` therefore reserves a slot when it
 * allows: the caller then reports exactly one outcome, `recordFailure` (the slot becomes a failure) or
 * `recordSuccess` (the account's failures are cleared, the address's slot released). A slot nobody
 * settles (the request crashed) lapses after 30 seconds.
 *
 * Memory is bounded: entries whose failures have all left the window are swept as requests go by, and
 * at most `maxTrackedKeys` keys per kind are tracked; beyond that the least recently seen is dropped
 * (which can forget a live count: the price of a fixed memory under a flood of distinct keys).
 *
 * Counts live in this process: with several nodes each counts separately, so a client spread across
 * them gets up to nodes × limit. Counting in Redis (REDIS_URL) is future work.
 */

export const maxFailuresPerAccount = 5;
export const maxFailuresPerAddress = 20;
export const failureWindowSeconds = 15 * 60;
export const maxTrackedKeys = 50_000;
/** How long a slot reserved by an allowed `check` counts when its outcome is never reported. */
export const pendingSlotSeconds = 30;

/** What a login attempt is counted under. Either may be absent (e.g. no address behind some proxies). */
export type RateLimitKeys = { account?: string | undefined; address?: string | undefined };
export type RateLimitDecision = { allowed: boolean; retryAfterSeconds: number };

export type RateLimiterOptions = {
  maxPerAccount?: number;
  maxPerAddress?: number;
  windowSeconds?: number;
  maxTrackedKeys?: number;
  /** Milliseconds since the epoch; tests move it. */
  clock?: () => number;
};

export class LoginRateLimiter {
  private readonly accounts: FailureLog;
  private readonly addresses: FailureLog;
  private readonly clock: () => number;

  constructor(options: RateLimiterOptions = {}) {
    const windowMs = (options.windowSeconds ?? failureWindowSeconds) * 1000;
    const pendingMs = Math.min(pendingSlotSeconds * 1000, windowMs);
    const capacity = options.maxTrackedKeys ?? maxTrackedKeys;
    this.accounts = new FailureLog(
      options.maxPerAccount ?? maxFailuresPerAccount,
      windowMs,
      pendingMs,
      capacity,
    );
    this.addresses = new FailureLog(
      options.maxPerAddress ?? maxFailuresPerAddress,
      windowMs,
      pendingMs,
      capacity,
    );
    this.clock = options.clock ?? Date.now;
  }

  static fromConfig(
    config: Pick<
      Config,
      'LOGIN_FAILURES_PER_ACCOUNT' | 'LOGIN_FAILURES_PER_ADDRESS' | 'LOGIN_FAILURE_WINDOW_SECONDS'
    >,
    clock?: () => number,
  ): LoginRateLimiter {
    return new LoginRateLimiter({
      maxPerAccount: config.LOGIN_FAILURES_PER_ACCOUNT,
      maxPerAddress: config.LOGIN_FAILURES_PER_ADDRESS,
      windowSeconds: config.LOGIN_FAILURE_WINDOW_SECONDS,
      ...(clock === undefined ? {} : { clock }),
    });
  }

  /**
   * May this attempt proceed? When allowed, a slot is reserved under both keys until the caller reports
   * the outcome (recordFailure or recordSuccess); when refused, nothing is counted and
   * `retryAfterSeconds` says when the next attempt can succeed.
   */
  check(keys: RateLimitKeys): RateLimitDecision {
    const now = this.clock();
    const account = accountKey(keys.account);
    const address = addressKey(keys.address);
    const waits = [
      account === undefined ? 0 : this.accounts.waitMs(account, now),
      address === undefined ? 0 : this.addresses.waitMs(address, now),
    ];
    const waitMs = Math.max(...waits);
    if (waitMs > 0) return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
    if (account !== undefined) this.accounts.reserve(account, now);
    if (address !== undefined) this.addresses.reserve(address, now);
    return { allowed: true, retryAfterSeconds: 0 };
  }

  /** A failed attempt (wrong password, unknown email): counts against both keys. */
  recordFailure(keys: RateLimitKeys): void {
    const now = this.clock();
    const account = accountKey(keys.account);
    const address = addressKey(keys.address);
    if (account !== undefined) this.accounts.fail(account, now);
    if (address !== undefined) this.addresses.fail(address, now);
  }

  /** A good login: the account starts afresh; the address keeps its failures but frees its slot. */
  recordSuccess(keys: RateLimitKeys): void {
    const now = this.clock();
    const account = accountKey(keys.account);
    const address = addressKey(keys.address);
    if (account !== undefined) this.accounts.delete(account);
    if (address !== undefined) this.addresses.release(address, now);
  }

  /** Forgets an account's failures (e.g. after an administrator resets its password). */
  reset(account: string): void {
    const key = accountKey(account);
    if (key !== undefined) this.accounts.delete(key);
  }

  /** Keys tracked now, per kind: for tests and metrics. */
  get size(): { accounts: number; addresses: number } {
    return { accounts: this.accounts.size, addresses: this.addresses.size };
  }
}

/** Emails differ only in case and surrounding spaces for the same person. */
export function accountKey(email: string | undefined): string | undefined {
  const key = email?.trim().toLowerCase();
  return key === '' ? undefined : key;
}

/**
 * IPv4 as is (IPv4-mapped IPv6 unwrapped); IPv6 by its /64 prefix, since one subscriber usually holds a
 * whole /64 and could otherwise take a fresh address for every guess.
 */
export function addressKey(address: string | undefined): string | undefined {
  if (address === undefined || address === '') return undefined;
  const bare = address.replace(/%.*$/, '').toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(bare);
  if (mapped?.[1] !== undefined && isIPv4(mapped[1])) return mapped[1];
  // uWS on a dual-stack socket spells an IPv4 client in full: 0000:0000:0000:0000:0000:ffff:7f00:0001.
  // Without this, every IPv4 client would share one /64 key.
  const spelled = /^(?:0{1,4}:){5}ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(bare);
  if (spelled?.[1] !== undefined && spelled[2] !== undefined) {
    const high = Number.parseInt(spelled[1], 16);
    const low = Number.parseInt(spelled[2], 16);
    return [high >> 8, high & 255, low >> 8, low & 255].join('.');
  }
  if (!isIPv6(bare)) return address;
  const [head = '', tail] = bare.split('::');
  const headParts = head === '' ? [] : head.split(':');
  const tailParts = tail === undefined || tail === '' ? [] : tail.split(':');
  // A trailing dotted quad stands for two groups; only the first four groups matter here.
  const groupCount = (parts: string[]) => parts.reduce((n, part) => n + (part.includes('.') ? 2 : 1), 0);
  const zeros = Array<string>(Math.max(0, 8 - groupCount(headParts) - groupCount(tailParts))).fill('0');
  const groups = [...headParts, ...zeros, ...tailParts].slice(0, 4).map((group) => {
    return group.includes('.') ? group : Number.parseInt(group, 16).toString(16);
  });
  return `${groups.join(':')}::/64`;
}

type Entry = { failures: number[]; pending: number[] };

/** One kind of key (accounts or addresses): recent failure and reserved-slot timestamps per key. */
class FailureLog {
  // Map order is least recently touched first: every write re-inserts its key at the end, so expired
  // entries gather at the front where the sweep finds them, and the front is what a full map evicts.
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly pendingMs: number,
    private readonly capacity: number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Milliseconds until the key may try again; 0 when it may now. */
  waitMs(key: string, now: number): number {
    const entry = this.entries.get(key);
    if (entry === undefined) return 0;
    this.prune(entry, now);
    const expiries = [
      ...entry.failures.map((at) => at + this.windowMs),
      ...entry.pending.map((at) => at + this.pendingMs),
    ].sort((a, b) => a - b);
    if (expiries.length < this.limit) return 0;
    // Blocked until enough of them lapse to leave room for one more attempt.
    return (expiries[expiries.length - this.limit] ?? now) - now;
  }

  reserve(key: string, now: number): void {
    const entry = this.touch(key, now);
    entry.pending.push(now);
  }

  fail(key: string, now: number): void {
    const entry = this.touch(key, now);
    entry.pending.shift(); // the slot its check reserved, if any, becomes this failure
    entry.failures.push(now);
    // Older failures than the last `limit` never decide anything: drop them to bound the memory.
    if (entry.failures.length > this.limit) entry.failures.splice(0, entry.failures.length - this.limit);
  }

  release(key: string, now: number): void {
    const entry = this.entries.get(key);
    if (entry === undefined) return;
    entry.pending.shift();
    this.prune(entry, now);
    if (entry.failures.length === 0 && entry.pending.length === 0) this.entries.delete(key);
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  private touch(key: string, now: number): Entry {
    this.sweep(now);
    let entry = this.entries.get(key);
    if (entry === undefined) {
      if (this.entries.size >= this.capacity) this.evictOldest();
      entry = { failures: [], pending: [] };
    } else {
      this.entries.delete(key);
      this.prune(entry, now);
    }
    this.entries.set(key, entry);
    return entry;
  }

  /** A few steps of incremental collection per write keep the map free of expired entries. */
  private sweep(now: number): void {
    for (let step = 0; step < 4; step++) {
      const first = this.entries.entries().next();
      if (first.done) return;
      const [key, entry] = first.value;
      this.prune(entry, now);
      if (entry.failures.length > 0 || entry.pending.length > 0) return;
      this.entries.delete(key);
    }
  }

  private evictOldest(): void {
    const first = this.entries.keys().next();
    if (!first.done) this.entries.delete(first.value);
  }

  private prune(entry: Entry, now: number): void {
    const failuresFrom = now - this.windowMs;
    while (entry.failures.length > 0 && (entry.failures[0] ?? now) <= failuresFrom) entry.failures.shift();
    const pendingFrom = now - this.pendingMs;
    while (entry.pending.length > 0 && (entry.pending[0] ?? now) <= pendingFrom) entry.pending.shift();
  }
}
