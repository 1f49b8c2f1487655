import { randomUUID } from 'node:crypto';
import { type DatabasePool, sql } from 'slonik';
import { AppError } from '../errors/catalogue.ts';
import type { AccessTokens } from './accessTokens.ts';
import { hashRefreshToken, newRefreshToken } from './refreshTokens.ts';

export type TokenPair = { accessToken: string; refreshToken: string; expiresIn: number };

const refreshTtlSeconds = 30 * 24 * 3600;

/**
 * Refresh-token families. Login opens a family; every refresh spends its token and issues the next
 * one in the same family; a spent token presented again means it was stolen or replayed, so the
 * whole family is revoked. Access tokens carry their family (`sid`): revoking it (logout, reuse,
 * user deleted) ends them on their next request, not at their expiry.
 */
export class Sessions {
  constructor(
    private readonly pool: DatabasePool,
    private readonly accessTokens: AccessTokens,
  ) {}

  async open(organizationId: string, userId: string): Promise<TokenPair> {
    const familyId = randomUUID();
    const refreshToken = newRefreshToken();
    await this.pool.query(sql.unsafe`
      INSERT INTO auth.refresh_tokens (token_hash, family_id, organization_id, user_id, expires_at)
      VALUES (${hashRefreshToken(refreshToken)}, ${familyId}, ${organizationId}, ${userId},
              now() + make_interval(secs => ${refreshTtlSeconds}))`);
    return this.pair(organizationId, userId, familyId, refreshToken);
  }

  async refresh(refreshToken: string): Promise<TokenPair> {
    const next = newRefreshToken();
    const outcome = await this.pool.transaction(async (tx) => {
      const row = (await tx.maybeOne(sql.unsafe`
        SELECT t.family_id, t.organization_id, t.user_id, t.spent_at IS NOT NULL AS spent,
               t.revoked_at IS NOT NULL AS revoked, t.expires_at < now() AS expired,
               EXISTS (SELECT 1 FROM rm.users u WHERE u.organization_id = t.organization_id
                        AND u.user_id = t.user_id AND u.deleted_at IS NULL) AS active
          FROM auth.refresh_tokens t WHERE t.token_hash = ${hashRefreshToken(refreshToken)}
         FOR UPDATE`)) as {
        family_id: string;
        organization_id: string;
        user_id: string;
        spent: boolean;
        revoked: boolean;
        expired: boolean;
        active: boolean;
      } | null;
      if (!row || row.revoked || row.expired || !row.active) return { kind: 'invalid' as const };
      if (row.spent) {
        await tx.query(sql.unsafe`
          UPDATE auth.refresh_tokens SET revoked_at = now() WHERE family_id = ${row.family_id} AND revoked_at IS NULL`);
        return { kind: 'reused' as const };
      }
      await tx.query(sql.unsafe`
        UPDATE auth.refresh_tokens SET spent_at = now() WHERE token_hash = ${hashRefreshToken(refreshToken)}`);
      await tx.query(sql.unsafe`
        INSERT INTO auth.refresh_tokens (token_hash, family_id, organization_id, user_id, expires_at)
        VALUES (${hashRefreshToken(next)}, ${row.family_id}, ${row.organization_id}, ${row.user_id},
                now() + make_interval(secs => ${refreshTtlSeconds}))`);
      return { kind: 'rotated' as const, row };
    });
    if (outcome.kind === 'reused') {
      throw new AppError(
        'auth.refresh_reused',
        'This refresh token was already used; its session is revoked',
      );
    }
    if (outcome.kind === 'invalid') throw new AppError('auth.token_invalid', 'Refresh token is not valid');
    return this.pair(outcome.row.organization_id, outcome.row.user_id, outcome.row.family_id, next);
  }

  /** Revokes the token's whole family. Unknown tokens are ignored: logout always succeeds. */
  async logout(refreshToken: string): Promise<void> {
    await this.pool.query(sql.unsafe`
      UPDATE auth.refresh_tokens SET revoked_at = now()
       WHERE revoked_at IS NULL AND family_id = (
         SELECT family_id FROM auth.refresh_tokens WHERE token_hash = ${hashRefreshToken(refreshToken)})`);
  }

  /** Every session of a user ends (the user was deleted). */
  async revokeUser(organizationId: string, userId: string): Promise<void> {
    await this.pool.query(sql.unsafe`
      UPDATE auth.refresh_tokens SET revoked_at = now()
       WHERE organization_id = ${organizationId} AND user_id = ${userId} AND revoked_at IS NULL`);
  }

  private async pair(
    organizationId: string,
    userId: string,
    familyId: string,
    refreshToken: string,
  ): Promise<TokenPair> {
    const { token, expiresIn } = await this.accessTokens.sign({
      sub: userId,
      org: organizationId,
      sid: familyId,
    });
    return { accessToken: token, refreshToken, expiresIn };
  }
}
