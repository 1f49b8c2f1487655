import pg from 'pg';
import type { Logger } from '../log/logger.ts';

/**
 * One holder at a time across every process on the database: a session advisory lock on a connection
 * of its own. Postgres releases it when that connection ends, so a killed holder frees it at once and
 * another node takes over at its next try.
 */
export class LeaderLock {
  private client: pg.Client | undefined;
  private held = false;
  /** Workers sharing the lock ask at once; one attempt at a time answers them all. */
  private attempt: Promise<boolean> | undefined;

  constructor(
    private readonly databaseUrl: string,
    private readonly name: string,
    private readonly logger: Logger,
  ) {}

  /**
   * Tries to take the lock, or checks that its connection still lives when held; true when this
   * process holds it. Never throws.
   */
  tryAcquire(): Promise<boolean> {
    this.attempt ??= this.acquire().finally(() => {
      this.attempt = undefined;
    });
    return this.attempt;
  }

  private async acquire(): Promise<boolean> {
    try {
      if (this.held && this.client) {
        await this.client.query('SELECT 1');
        return true;
      }
      if (!this.client) {
        // A half-open connection must not keep the lock (or the workers waiting on it) for hours:
        // keepalives on both ends, and a bound on every query.
        const client = new pg.Client({
          connectionString: this.databaseUrl,
          application_name: `pytake ${this.name}`,
          keepAlive: true,
          keepAliveInitialDelayMillis: 10_000,
          query_timeout: 5000,
          connectionTimeoutMillis: 5000,
          options: '-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3',
        });
        client.on('error', (error) => {
          if (this.client !== client) return;
          this.logger.warn({ err: error, lock: this.name }, 'leader lock connection lost');
          void this.release();
        });
        await client.connect();
        this.client = client;
      }
      const result = await this.client.query<{ locked: boolean }>(
        'SELECT pg_try_advisory_lock(hashtext($1)) AS locked',
        [this.name],
      );
      this.held = result.rows[0]?.locked === true;
      if (this.held) this.logger.info({ lock: this.name }, 'leadership taken');
    } catch (error) {
      this.logger.warn({ err: error, lock: this.name }, 'leader lock unavailable');
      await this.release();
    }
    return this.held;
  }

  async release(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.held = false;
    await client?.end().catch(() => undefined);
  }
}
