import type { Redis } from 'ioredis';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../log/logger.ts';

export type ActorLeasesOptions = {
  nodeId: string;
  /** Starts every key: leases are `<prefix>lease:<category>:<key>`. */
  prefix: string;
  category: string;
  /** A lease not renewed for this long expires (ACTOR_LEASE_SECONDS). */
  leaseMs: number;
  logger: Logger;
  metricsRegistry?: Registry;
};

/**
 * Claims a lease for ARGV[1] for ARGV[2] ms when it is free, or when it names ARGV[3] (an owner
 * found dead: compare-and-delete and take in one step, so a lease another node took meanwhile is
 * left alone). Renews it when ARGV[1] holds it already. Answers the owner after the call, and 1 when
 * this call took it from ARGV[3].
 */
const claimScript = `
local owner = redis.call('GET', KEYS[1])
local fromDead = ARGV[3] ~= '' and owner == ARGV[3]
if owner == false or fromDead then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {ARGV[1], fromDead and 1 or 0}
end
if owner == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return {owner, 0}`;

/** Renews every lease in KEYS that ARGV[1] holds (or that expired meanwhile): 1 kept, 0 lost. */
const renewScript = `
local kept = {}
for i, key in ipairs(KEYS) do
  local owner = redis.call('GET', key)
  if owner == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
    kept[i] = 1
  elseif owner == false then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
    kept[i] = 1
  else
    kept[i] = 0
  end
end
return kept`;

/** Deletes the leases in KEYS that still name ARGV[1]. */
const releaseScript = `
local released = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('DEL', key)
    released = released + 1
  end
end
return released`;

/** Keys per script call: one call for all leases, cut into pieces Redis handles without a pause. */
const batchSize = 500;

type Scripts = {
  pytakeLeaseClaim(key: string, node: string, ms: number, previous: string): Promise<[string, number]>;
  pytakeLeaseRenew(count: number, ...keysAndArgs: (string | number)[]): Promise<number[]>;
  pytakeLeaseRelease(count: number, ...keysAndArgs: string[]): Promise<number>;
};

/**
 * This node's leases on actors in Redis: `<prefix>lease:<category>:<key>` = node id, with an expiry
 * renewed in one batched script call every third of the lease. Known leases are answered from
 * memory until they would expire unrenewed, so a command for a conversation this node owns costs
 * no Redis round trip. A lease only routes commands: correctness rests on the actors' expected
 * revisions, so two nodes believing they own a conversation for a moment stay correct.
 */
export class ActorLeases {
  /** Lease key → until when this node holds it for sure (the time its last claim or renewal set out + leaseMs). */
  private readonly held = new Map<string, number>();
  private readonly redis: Redis & Scripts;
  private timer: NodeJS.Timeout | undefined;
  private renewing: Promise<void> | undefined;
  private readonly metrics;

  constructor(
    redis: Redis,
    private readonly options: ActorLeasesOptions,
  ) {
    redis.defineCommand('pytakeLeaseClaim', { numberOfKeys: 1, lua: claimScript });
    redis.defineCommand('pytakeLeaseRenew', { lua: renewScript });
    redis.defineCommand('pytakeLeaseRelease', { lua: releaseScript });
    this.redis = redis as Redis & Scripts;
    this.metrics = leaseMetrics(options, this.held);
  }

  get nodeId(): string {
    return this.options.nodeId;
  }

  /** Renews every held lease every third of the lease time until `stop`. */
  start(): void {
    this.timer ??= setInterval(() => void this.renew(), Math.max(100, Math.floor(this.options.leaseMs / 3)));
    this.timer.unref();
  }

  /** Whether this node holds `key`'s lease, from memory. */
  holds(key: string): boolean {
    const until = this.held.get(key);
    return until !== undefined && until > Date.now();
  }

  /** Takes `key`'s lease when it is free (renews it when held); answers its owner. Throws when Redis fails. */
  async claim(key: string): Promise<string> {
    return (await this.claimFrom(key, '')).owner;
  }

  /**
   * Takes `key`'s lease from `deadOwner` — only if it still names that owner (or nobody): another
   * node that took it meanwhile keeps it. Answers the owner after the call, and whether this call took
   * it from `deadOwner` (not when this node had it already, say by another command's takeover).
   */
  takeOver(key: string, deadOwner: string): Promise<{ owner: string; tookOver: boolean }> {
    return this.claimFrom(key, deadOwner);
  }

  /** Gives `key`'s lease up (its actor left memory); never throws. */
  release(key: string): void {
    if (!this.held.delete(key)) return;
    // Sent at once, so a claim for the same key issued after this one is ordered after it.
    this.run(() => this.redis.pytakeLeaseRelease(1, this.leaseKey(key), this.options.nodeId)).catch(
      (error: unknown) => this.failed('release', error),
    );
  }

  /** Renews every held lease now; leases found with another owner are dropped. Never throws. */
  renew(): Promise<void> {
    this.renewing ??= this.renewAll().finally(() => {
      this.renewing = undefined;
    });
    return this.renewing;
  }

  /** Stops renewing and gives every lease up (graceful shutdown); never throws. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.renewing;
    const keys = [...this.held.keys()];
    this.held.clear();
    for (let start = 0; start < keys.length; start += batchSize) {
      const batch = keys.slice(start, start + batchSize).map((key) => this.leaseKey(key));
      try {
        await this.run(() => this.redis.pytakeLeaseRelease(batch.length, ...batch, this.options.nodeId));
      } catch (error) {
        // They expire on their own within leaseMs.
        this.failed('release', error);
        return;
      }
    }
  }

  private async claimFrom(key: string, previous: string): Promise<{ owner: string; tookOver: boolean }> {
    const setOut = Date.now();
    const [owner, tookOver] = await this.run(() =>
      this.redis.pytakeLeaseClaim(this.leaseKey(key), this.options.nodeId, this.options.leaseMs, previous),
    );
    if (owner === this.options.nodeId) this.held.set(key, setOut + this.options.leaseMs);
    else this.held.delete(key);
    return { owner, tookOver: tookOver === 1 };
  }

  private async renewAll(): Promise<void> {
    const keys = [...this.held.keys()];
    for (let start = 0; start < keys.length; start += batchSize) {
      const batch = keys.slice(start, start + batchSize);
      const setOut = Date.now();
      let kept: number[];
      try {
        kept = await this.run(() =>
          this.redis.pytakeLeaseRenew(
            batch.length,
            ...batch.map((key) => this.leaseKey(key)),
            this.options.nodeId,
            this.options.leaseMs,
          ),
        );
      } catch (error) {
        // The leases lapse in memory when they would in Redis; commands then ask Redis again.
        this.failed('renew', error);
        return;
      }
      batch.forEach((key, index) => {
        // Released while the call was out: the release, sent after it, has deleted it too.
        if (!this.held.has(key)) return;
        if (kept[index] === 1) this.held.set(key, setOut + this.options.leaseMs);
        else {
          this.held.delete(key);
          this.metrics.lost.inc();
          this.options.logger.debug({ key }, 'lease found with another node: dropped');
        }
      });
    }
  }

  private leaseKey(key: string): string {
    return `${this.options.prefix}lease:${this.options.category}:${key}`;
  }

  /** Turns a synchronous refusal (connection down, no offline queue) into a rejection. */
  private async run<T>(command: () => Promise<T>): Promise<T> {
    return command();
  }

  private failed(operation: string, error: unknown): void {
    this.metrics.errors(operation);
    this.options.logger.warn({ err: error, operation }, 'actor lease operation failed');
  }
}

function leaseMetrics(options: ActorLeasesOptions, held: Map<string, number>) {
  const registers = options.metricsRegistry ? [options.metricsRegistry] : [];
  const labels = { category: options.category };
  new Gauge({
    name: 'actor_leases_held',
    help: 'Actor leases this node holds in Redis, by category',
    labelNames: ['category'],
    registers,
    collect() {
      this.set(labels, held.size);
    },
  });
  const lost = new Counter({
    name: 'actor_leases_lost_total',
    help: 'Leases a renewal found held by another node (dropped here; commands then go there)',
    labelNames: ['category'],
    registers,
  });
  const errors = new Counter({
    name: 'actor_lease_errors_total',
    help: 'Lease claims, renewals and releases Redis did not answer, by operation',
    labelNames: ['category', 'operation'],
    registers,
  });
  return {
    lost: lost.labels(labels),
    errors: (operation: string) => errors.inc({ ...labels, operation }),
  };
}
