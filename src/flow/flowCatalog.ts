import { type DatabasePool, sql } from 'slonik';
import { contactIdFor } from '../conversation/contact.ts';
import { asTenant } from '../db/pool.ts';
import { uuidPattern } from '../lang/uuid.ts';
import type { Chatbot } from './chatbot.ts';
import type { Value } from './expression.ts';
import type { FlowDefinition } from './flowDefinition.ts';
import { type ChatbotRow, chatbotColumns, toChatbot } from './flowQueries.ts';

/** Bounds the TTL caches too: past it they start over (as the channel directory does). */
const maxTimedEntries = 100_000;

type Timed<T> = { value: T; until: number };

/** What agents set on a contact (rm.contacts), as bot turns read it. */
export type BotContact = { name: string | null; attributes: Record<string, Value> };

/**
 * What the conversation actor reads before a bot turn, kept off the database on the webhook hot path:
 * a number's chatbots, a flow's published version and a contact's name and attributes for `ttlMs`
 * (and until `invalidate`, which runs when the flows projection, or a contact change, is applied on
 * this node), and saved definitions, which never change,
 * for as long as the LRU keeps them. Concurrent misses for one key share one query; a query that
 * started before an `invalidate` serves its callers but caches nothing.
 */
export class FlowCatalog {
  private readonly ttlMs: number;
  private readonly maxDefinitions: number;
  private readonly chatbots = new Map<string, Timed<Chatbot[]>>();
  private readonly published = new Map<string, Timed<number | null>>();
  private readonly contacts = new Map<string, Timed<BotContact | null>>();
  /** Insertion order is recency: a hit moves its entry to the end, eviction takes the first. */
  private readonly definitions = new Map<string, FlowDefinition>();
  private readonly inFlight = new Map<string, Promise<unknown>>();
  private readonly now: () => number;
  private generation = 0;

  constructor(
    private readonly pool: DatabasePool,
    /** `now` (milliseconds, default Date.now) is for tests that move time on. */
    options: { ttlMs?: number; maxDefinitions?: number; now?: () => number } = {},
  ) {
    this.ttlMs = options.ttlMs ?? 5000;
    this.maxDefinitions = options.maxDefinitions ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  /** Enabled chatbots of this channel, oldest first. Cached per (org, channel) for ttlMs. */
  chatbotsFor(organizationId: string, channelId: string): Promise<Chatbot[]> {
    if (!uuidPattern.test(organizationId) || !uuidPattern.test(channelId)) return Promise.resolve([]);
    return this.timed(
      this.chatbots,
      `chatbots/${organizationId.toLowerCase()}/${channelId.toLowerCase()}`,
      async () => {
        const rows = (await asTenant(this.pool, organizationId, (tx) =>
          tx.any(sql.unsafe`SELECT ${chatbotColumns} FROM rm.chatbots
          WHERE organization_id = ${organizationId} AND channel_id = ${channelId} AND enabled
          ORDER BY created_at, chatbot_id`),
        )) as readonly ChatbotRow[];
        return rows.map(toChatbot);
      },
    );
  }

  /** The published version of a flow, or null. Cached ttlMs. */
  publishedVersion(organizationId: string, flowId: string): Promise<number | null> {
    if (!uuidPattern.test(organizationId) || !uuidPattern.test(flowId)) return Promise.resolve(null);
    return this.timed(
      this.published,
      `published/${organizationId.toLowerCase()}/${flowId.toLowerCase()}`,
      async () => {
        const version = await asTenant(this.pool, organizationId, (tx) =>
          tx.maybeOneFirst(sql.unsafe`SELECT published_version FROM rm.flows
          WHERE organization_id = ${organizationId} AND flow_id = ${flowId}`),
        );
        return (version as number | null) ?? null;
      },
    );
  }

  /** The contact agents know as this customer, or null when they have set nothing yet. Cached ttlMs. */
  contact(organizationId: string, waId: string): Promise<BotContact | null> {
    if (!uuidPattern.test(organizationId)) return Promise.resolve(null);
    const contactId = contactIdFor(organizationId, waId);
    return this.timed(this.contacts, `contact/${contactId}`, async () => {
      const row = await asTenant(this.pool, organizationId, (tx) =>
        tx.maybeOne(sql.unsafe`
          SELECT name, attributes FROM rm.contacts
           WHERE organization_id = ${organizationId} AND contact_id = ${contactId}`),
      );
      return row as BotContact | null;
    });
  }

  /** A version's definition (immutable once saved, so cached without expiry, LRU-bounded), or null. */
  async definition(organizationId: string, flowId: string, version: number): Promise<FlowDefinition | null> {
    if (!uuidPattern.test(organizationId) || !uuidPattern.test(flowId) || !Number.isInteger(version)) {
      return null;
    }
    const key = `definition/${organizationId.toLowerCase()}/${flowId.toLowerCase()}/${version}`;
    const hit = this.definitions.get(key);
    if (hit) {
      this.definitions.delete(key);
      this.definitions.set(key, hit);
      return hit;
    }
    const definition = await this.shared(key, () =>
      asTenant(this.pool, organizationId, (tx) =>
        tx.maybeOneFirst(sql.unsafe`SELECT definition FROM rm.flow_versions
          WHERE organization_id = ${organizationId} AND flow_id = ${flowId} AND version = ${version}`),
      ),
    );
    // A version not saved yet may be soon: only what exists is kept.
    if (definition === null) return null;
    if (!this.definitions.has(key)) {
      this.definitions.set(key, definition as FlowDefinition);
      if (this.definitions.size > this.maxDefinitions) {
        const oldest = this.definitions.keys().next().value;
        if (oldest !== undefined) this.definitions.delete(oldest);
      }
    }
    return definition as FlowDefinition;
  }

  /** Drops the TTL caches (called when the flows projection, or a contact change, was applied on this node). */
  invalidate(): void {
    this.generation += 1;
    this.chatbots.clear();
    this.published.clear();
    this.contacts.clear();
    // Queries already running may have read before the batch: later callers must not join them.
    for (const key of this.inFlight.keys()) {
      if (!key.startsWith('definition/')) this.inFlight.delete(key);
    }
  }

  private async timed<T>(cache: Map<string, Timed<T>>, key: string, load: () => Promise<T>): Promise<T> {
    const hit = cache.get(key);
    if (hit && hit.until > this.now()) return hit.value;
    const generation = this.generation;
    const value = await this.shared(key, load);
    if (generation === this.generation) {
      if (cache.size >= maxTimedEntries) cache.clear();
      cache.set(key, { value, until: this.now() + this.ttlMs });
    }
    return value;
  }

  /** One query per key at a time: callers arriving while it runs wait for the same answer. */
  private shared<T>(key: string, load: () => Promise<T>): Promise<T> {
    const running = this.inFlight.get(key);
    if (running) return running as Promise<T>;
    const loading = load();
    this.inFlight.set(key, loading);
    const done = () => {
      if (this.inFlight.get(key) === loading) this.inFlight.delete(key);
    };
    loading.then(done, done);
    return loading;
  }
}
