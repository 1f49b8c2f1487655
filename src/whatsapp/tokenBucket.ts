/**
 * A token bucket: `capacity` sends may go back to back, then one per `1000 / ratePerSecond` ms.
 * `take` either spends a token (0) or says how long to wait for one, spending nothing.
 */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    private ratePerSecond: number,
    private capacity: number,
    now: number,
  ) {
    this.tokens = capacity;
    this.updatedAt = now;
  }

  take(now: number): number {
    const wait = this.wait(now);
    if (wait === 0) this.tokens -= 1;
    return wait;
  }

  /** How long until a token is there (0: now), spending nothing. */
  wait(now: number): number {
    this.refill(now);
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) * 1000) / this.ratePerSecond);
  }

  /** Meta said to slow down: no token for `ms`, then the usual rate. */
  drain(now: number, ms: number): void {
    this.refill(now);
    this.tokens = Math.min(this.tokens, 1 - (ms * this.ratePerSecond) / 1000);
  }

  /** True once the bucket is full again: it can be forgotten and rebuilt later with no difference. */
  idle(now: number): boolean {
    return this.tokens + ((now - this.updatedAt) * this.ratePerSecond) / 1000 >= this.capacity;
  }

  /** The time already passed is counted at the old rate; the new one applies from `now`. */
  reconfigure(ratePerSecond: number, capacity: number, now: number): void {
    this.refill(now);
    this.ratePerSecond = ratePerSecond;
    this.capacity = capacity;
    this.tokens = Math.min(this.tokens, capacity);
  }

  private refill(now: number): void {
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.updatedAt) * this.ratePerSecond) / 1000);
    this.updatedAt = now;
  }
}

/** Buckets by key (a phone number id, a number + recipient pair), forgetting full ones as it goes. */
export class TokenBuckets {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(private readonly maxIdle = 10_000) {}

  take(key: string, ratePerSecond: number, capacity: number, now: number): number {
    return this.bucket(key, ratePerSecond, capacity, now).take(now);
  }

  wait(key: string, ratePerSecond: number, capacity: number, now: number): number {
    return this.bucket(key, ratePerSecond, capacity, now).wait(now);
  }

  drain(key: string, ratePerSecond: number, capacity: number, now: number, ms: number): void {
    this.bucket(key, ratePerSecond, capacity, now).drain(now, ms);
  }

  private bucket(key: string, ratePerSecond: number, capacity: number, now: number): TokenBucket {
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size >= this.maxIdle) this.sweep(now);
      bucket = new TokenBucket(ratePerSecond, capacity, now);
      this.buckets.set(key, bucket);
    }
    bucket.reconfigure(ratePerSecond, capacity, now);
    return bucket;
  }

  private sweep(now: number): void {
    for (const [key, bucket] of this.buckets) if (bucket.idle(now)) this.buckets.delete(key);
  }
}
