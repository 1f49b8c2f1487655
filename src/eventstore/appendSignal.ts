import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Logger } from '../log/logger.ts';

const channel = 'es_appended';

/**
 * Wakes `$all` subscribers when events are appended. Subscribers in this process are woken
 * directly; other processes through Postgres LISTEN/NOTIFY. The NOTIFY is sent after the append
 * commits, outside the append transaction (a NOTIFY inside it would serialise every committing
 * writer on Postgres's notify-queue lock), and coalesced: one in flight at a time. Subscribers also
 * poll slowly, so a lost notification (a writer killed right after its commit, a dropped listener
 * connection) delays them, never stalls them.
 */
/** Event types appended, or undefined when not known (a wake-up after reconnecting, a long list). */
export type AppendedTypes = ReadonlySet<string> | undefined;

/** Types named in one NOTIFY at most: Postgres caps a payload at 8000 bytes. */
const maxNotifiedTypesLength = 7000;

export class AppendSignal {
  private readonly listeners = new Set<(types: AppendedTypes) => void>();
  /** Types appended since the last NOTIFY was sent: the next one names them all. */
  private unsentTypes = new Set<string>();
  private readonly nodeId = randomUUID();
  private client: pg.Client | undefined;
  private notifying = false;
  private notifyAgain = false;
  private closed = false;
  private reconnectTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly databaseUrl: string,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.databaseUrl,
      application_name: 'pytake-es-listen',
    });
    client.on('notification', (message) => {
      const [node, types] = (message.payload ?? '').split('|');
      if (node !== this.nodeId) this.wakeLocal(types ? new Set(types.split(',')) : undefined);
    });
    client.on('error', (error) => {
      this.logger.warn({ err: error }, 'event-store listener connection lost; reconnecting');
      this.reconnect();
    });
    client.on('end', () => this.reconnect());
    await client.connect();
    await client.query(`LISTEN ${channel}`);
    this.client = client;
    // Anything appended while we were not listening is picked up by this wake-up.
    this.wakeLocal(undefined);
  }

  /**
   * Calls `listener` on every wake-up with the event types appended, so a subscriber filtering on
   * other types can stay asleep; returns the function that unsubscribes it.
   */
  subscribe(listener: (types: AppendedTypes) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Called after an append of events of these types committed. */
  appended(types: ReadonlySet<string>): void {
    this.wakeLocal(types);
    for (const type of types) this.unsentTypes.add(type);
    void this.notifyOthers();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private wakeLocal(types: AppendedTypes): void {
    for (const listener of this.listeners) listener(types);
  }

  private async notifyOthers(): Promise<void> {
    if (this.notifying) {
      this.notifyAgain = true;
      return;
    }
    this.notifying = true;
    try {
      do {
        this.notifyAgain = false;
        const types = [...this.unsentTypes].join(',');
        this.unsentTypes = new Set();
        // Too many types to name: the receivers wake every subscriber.
        const payload = types.length > maxNotifiedTypesLength ? this.nodeId : `${this.nodeId}|${types}`;
        await this.client?.query('SELECT pg_notify($1, $2)', [channel, payload]);
      } while (this.notifyAgain && !this.closed);
    } catch (error) {
      this.logger.debug({ err: error }, 'NOTIFY failed; other nodes fall back to polling');
    } finally {
      this.notifying = false;
    }
  }

  private reconnect(): void {
    if (this.closed || this.reconnectTimer) return;
    const old = this.client;
    this.client = undefined;
    old?.removeAllListeners();
    void old?.end().catch(() => undefined);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.closed) return;
      this.start().catch((error: unknown) => {
        this.logger.warn({ err: error }, 'event-store listener reconnect failed; retrying');
        this.reconnect();
      });
    }, 1000);
  }
}
