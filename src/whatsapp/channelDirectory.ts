import { type DatabasePool, sql } from 'slonik';
import type { SecretBox } from '../identity/secretBox.ts';

/** A connected WhatsApp number with its secrets opened, for the webhook ingester and the sender. */
export type Channel = {
  organizationId: string;
  channelId: string;
  phoneNumberId: string;
  /** The channel's own Meta app secret; null: it receives through the platform app. */
  appSecret: string | null;
  verifyToken: string | null;
  accessToken: string;
  sendRatePerSecond: number | null;
};

type ChannelRow = {
  organization_id: string;
  channel_id: string;
  phone_number_id: string;
  access_token_sealed: string;
  app_secret_sealed: string | null;
  verify_token_sealed: string | null;
  send_rate_per_second: number | null;
};

const cacheMs = 60_000;
const maxCached = 100_000;

/**
 * Finds channels by phone number id or channel id across tenants (webhooks name the number, not the
 * organization), opening their sealed secrets once per minute at most. `invalidate` is called when
 * channel events are projected on this node, so a number connected a moment ago is found at once,
 * and a disconnected one stops being served on every node.
 */
export class ChannelDirectory {
  private readonly cache = new Map<string, { channel: Channel | undefined; until: number }>();
  private tokens: Promise<string[]> | undefined;
  /** Bumped by `invalidate`: a lookup that started before must not cache what it read. */
  private generation = 0;

  constructor(
    private readonly pool: DatabasePool,
    private readonly secretBox: SecretBox,
  ) {}

  byPhoneNumberId(phoneNumberId: string): Promise<Channel | undefined> {
    return this.cached(`number:${phoneNumberId}`, sql.fragment`phone_number_id = ${phoneNumberId}`);
  }

  byChannelId(channelId: string): Promise<Channel | undefined> {
    return this.cached(`channel:${channelId}`, sql.fragment`channel_id = ${channelId}`);
  }

  /** Every verify token set on a channel, for the platform URL's subscription handshake; kept until a channel changes. */
  verifyTokens(): Promise<string[]> {
    if (!this.tokens) {
      const loading = this.loadVerifyTokens();
      this.tokens = loading;
      loading.catch(() => {
        if (this.tokens === loading) this.tokens = undefined;
      });
    }
    return this.tokens;
  }

  invalidate(): void {
    this.generation += 1;
    this.cache.clear();
    this.tokens = undefined;
  }

  private async loadVerifyTokens(): Promise<string[]> {
    const rows = (await this.pool.any(sql.unsafe`
      SELECT channel_id, verify_token_sealed FROM rm.channels
       WHERE deleted_at IS NULL AND verify_token_sealed IS NOT NULL`)) as readonly {
      channel_id: string;
      verify_token_sealed: string;
    }[];
    return Promise.all(rows.map((row) => this.secretBox.open(row.verify_token_sealed, row.channel_id)));
  }

  private async cached(key: string, where: ReturnType<typeof sql.fragment>): Promise<Channel | undefined> {
    const hit = this.cache.get(key);
    if (hit && hit.until > Date.now()) return hit.channel;
    const generation = this.generation;
    const row = (await this.pool.maybeOne(sql.unsafe`
      SELECT organization_id, channel_id, phone_number_id, access_token_sealed, app_secret_sealed,
             verify_token_sealed, send_rate_per_second
        FROM rm.channels WHERE ${where} AND deleted_at IS NULL`)) as ChannelRow | null;
    const channel = row ? await this.open(row) : undefined;
    // Misses are cached too (unknown numbers and URLs cost no query each time): connecting a channel
    // invalidates on every node as its event is projected.
    if (this.cache.size >= maxCached) this.cache.clear();
    if (generation === this.generation) this.cache.set(key, { channel, until: Date.now() + cacheMs });
    return channel;
  }

  private async open(row: ChannelRow): Promise<Channel> {
    const open = (sealed: string | null) =>
      sealed === null ? Promise.resolve(null) : this.secretBox.open(sealed, row.channel_id);
    const [accessToken, appSecret, verifyToken] = await Promise.all([
      this.secretBox.open(row.access_token_sealed, row.channel_id),
      open(row.app_secret_sealed),
      open(row.verify_token_sealed),
    ]);
    return {
      organizationId: row.organization_id,
      channelId: row.channel_id,
      phoneNumberId: row.phone_number_id,
      appSecret,
      verifyToken,
      accessToken,
      sendRatePerSecond: row.send_rate_per_second,
    };
  }
}
