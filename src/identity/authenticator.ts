import { type DatabasePool, sql } from 'slonik';
import { AppError } from '../errors/catalogue.ts';
import type { AccessTokens } from './accessTokens.ts';
import { type Permission, permissionsOf } from './permissions.ts';

/** The caller of a protected route, as the read models say they are now. */
export type Principal = {
  userId: string;
  organizationId: string;
  email: string;
  name: string;
  role: string;
  permissions: Permission[];
  sessionId: string;
};

/**
 * Bearer token → principal. The token proves who the caller was when it was signed; the user row
 * is read again on every request so a deletion, a demotion or a logout (revoked session) takes
 * effect on the next request, not when the token expires.
 */
export class Authenticator {
  constructor(
    private readonly pool: DatabasePool,
    private readonly accessTokens: AccessTokens,
  ) {}

  async authenticate(authorization: string | undefined): Promise<Principal> {
    const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/.exec(authorization ?? '');
    if (!match?.[1]) throw new AppError('auth.missing_token', 'Send Authorization: Bearer <access token>');
    return this.fromToken(match[1]);
  }

  async fromToken(token: string): Promise<Principal> {
    const claims = await this.accessTokens.verify(token);
    const row = (await this.pool.maybeOne(sql.unsafe`
      SELECT u.email, u.name, u.role, r.permissions
        FROM rm.users u
        LEFT JOIN rm.roles r ON r.organization_id = u.organization_id AND r.name = u.role
       WHERE u.organization_id = ${claims.org} AND u.user_id = ${claims.sub}
         AND u.deleted_at IS NULL
         AND NOT EXISTS (SELECT 1 FROM auth.refresh_tokens t
                          WHERE t.family_id = ${claims.sid} AND t.revoked_at IS NOT NULL)`)) as {
      email: string;
      name: string;
      role: string;
      permissions: string[] | null;
    } | null;
    if (!row) throw new AppError('auth.token_invalid', 'The session has ended or the user no longer exists');
    return {
      userId: claims.sub,
      organizationId: claims.org,
      email: row.email,
      name: row.name,
      role: row.role,
      permissions: permissionsOf(row.role, row.permissions ?? undefined),
      sessionId: claims.sid,
    };
  }

  /**
   * fromToken's read-model check for many sessions at once, by session id, for long-lived
   * connections whose tokens were verified when presented (the WebSocket gateway checks them again
   * every WS_AUTH_RECHECK_SECONDS): who each user is now; a revoked session or a deleted user is
   * absent from the answer. One query per 500 sessions.
   */
  async recheck(
    sessions: readonly Pick<Principal, 'userId' | 'organizationId' | 'sessionId'>[],
  ): Promise<Map<string, Principal>> {
    const found = new Map<string, Principal>();
    for (let start = 0; start < sessions.length; start += 500) {
      const chunk = sessions.slice(start, start + 500);
      const rows = (await this.pool.any(sql.unsafe`
        SELECT s.sid, s.org, s.uid, u.email, u.name, u.role, r.permissions
          FROM unnest(${sql.array(
            chunk.map((session) => session.sessionId),
            'uuid',
          )}, ${sql.array(
            chunk.map((session) => session.organizationId),
            'uuid',
          )}, ${sql.array(
            chunk.map((session) => session.userId),
            'uuid',
          )}) AS s(sid, org, uid)
          JOIN rm.users u ON u.organization_id = s.org AND u.user_id = s.uid AND u.deleted_at IS NULL
          LEFT JOIN rm.roles r ON r.organization_id = u.organization_id AND r.name = u.role
         WHERE NOT EXISTS (SELECT 1 FROM auth.refresh_tokens t
                            WHERE t.family_id = s.sid AND t.revoked_at IS NOT NULL)`)) as readonly {
        sid: string;
        org: string;
        uid: string;
        email: string;
        name: string;
        role: string;
        permissions: string[] | null;
      }[];
      for (const row of rows) {
        found.set(row.sid, {
          userId: row.uid,
          organizationId: row.org,
          email: row.email,
          name: row.name,
          role: row.role,
          permissions: permissionsOf(row.role, row.permissions ?? undefined),
          sessionId: row.sid,
        });
      }
    }
    return found;
  }
}
