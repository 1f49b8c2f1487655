import { randomUUID } from 'node:crypto';
import { sql } from 'slonik';
import { AppError } from '../errors/catalogue.ts';
import type { Route } from '../http/route.ts';
import { changeEntity, createEntity } from './entityCommands.ts';
import type { IdentityDeps } from './identityDeps.ts';
import { hashPassword, passwordNeedsRehash, verifyPasswordOrDummy } from './passwords.ts';
import { securedRoutes } from './secured.ts';
import { claimUnique } from './uniqueValues.ts';
import { evolveUser, existingUser } from './userState.ts';

/** POST /auth/signup, /auth/login, /auth/refresh, /auth/logout and GET /me. */
export function authRoutes(deps: IdentityDeps): Route[] {
  const secured = securedRoutes(deps.authenticator);
  return [
    {
      access: 'public',
      method: 'POST',
      path: '/api/v1/auth/signup',
      body: 'api/signup',
      status: 201,
      summary: 'Create an organization and its first org_admin, and log them in',
      handler: async (req) => {
        if (!deps.allowSignup) throw new AppError('identity.signup_disabled');
        const body = req.json<{ organizationName: string; name: string; email: string; password: string }>();
        const created = await createOrganization(deps, body);
        const tokens = await deps.sessions.open(created.organization.id, created.user.id);
        return { status: 201, body: { ...created, ...tokens } };
      },
    },
    {
      access: 'public',
      method: 'POST',
      path: '/api/v1/auth/login',
      body: 'api/login',
      summary: 'Exchange email and password for an access token and a refresh token',
      handler: async (req) => {
        const { email, password } = req.json<{ email: string; password: string }>();
        const account = email.trim().toLowerCase();
        const limited = deps.rateLimiter.check({ account, address: req.remoteAddress });
        if (!limited.allowed) {
          throw new AppError('auth.rate_limited', 'Too many failed logins; try again later', [], {
            'retry-after': String(limited.retryAfterSeconds),
          });
        }
        const row = (await deps.pool.maybeOne(
          sql.unsafe`SELECT organization_id, user_id, password_hash FROM rm.find_login(${account})`,
        )) as { organization_id: string; user_id: string; password_hash: string } | null;
        // Same work and the same answer whether or not the email exists.
        const valid = await verifyPasswordOrDummy(row?.password_hash, password);
        if (!row || !valid) {
          deps.rateLimiter.recordFailure({ account, address: req.remoteAddress });
          throw new AppError('auth.invalid_credentials', 'Wrong email or password');
        }
        deps.rateLimiter.recordSuccess({ account, address: req.remoteAddress });
        // A hash made with older parameters is upgraded now, the one moment the password is known.
        if (passwordNeedsRehash(row.password_hash)) {
          const passwordHash = await hashPassword(password);
          await changeEntity(
            deps,
            `user-${row.user_id}`,
            evolveUser,
            (state) => {
              existingUser(state, row.organization_id);
              return { type: 'UserUpdated', data: { passwordHash } };
            },
            { organizationId: row.organization_id, actor: row.user_id },
          );
        }
        return { status: 200, body: await deps.sessions.open(row.organization_id, row.user_id) };
      },
    },
    {
      access: 'public',
      method: 'POST',
      path: '/api/v1/auth/refresh',
      body: 'api/refresh',
      summary: 'Spend a refresh token for a new pair; a spent token presented again revokes its family',
      handler: async (req) => ({
        status: 200,
        body: await deps.sessions.refresh(req.json<{ refreshToken: string }>().refreshToken),
      }),
    },
    {
      access: 'public',
      method: 'POST',
      path: '/api/v1/auth/logout',
      body: 'api/refresh',
      status: 204,
      summary: 'End the session the refresh token belongs to',
      handler: async (req) => {
        await deps.sessions.logout(req.json<{ refreshToken: string }>().refreshToken);
        return { status: 204 };
      },
    },
    secured({
      permission: 'authenticated',
      method: 'GET',
      path: '/api/v1/me',
      summary: 'The caller, their role and permissions',
      handler: async (_req, me) => ({
        status: 200,
        body: {
          user: { id: me.userId, email: me.email, name: me.name, role: me.role },
          organizationId: me.organizationId,
          role: me.role,
          permissions: me.permissions,
        },
      }),
    }),
  ];
}

/** Sign-up and `npm run create-org`: the organization, its first org_admin, read-your-writes. */
export async function createOrganization(
  deps: Pick<IdentityDeps, 'store' | 'projections'>,
  input: { organizationName: string; name: string; email: string; password: string },
) {
  const organizationId = randomUUID();
  const userId = randomUUID();
  const email = input.email.trim().toLowerCase();
  const context = { organizationId, actor: userId };
  await claimUnique(deps.store, 'email', email, userId, context);
  await createEntity(
    deps,
    `organization-${organizationId}`,
    { type: 'OrganizationCreated', data: { organizationId, name: input.organizationName } },
    context,
  );
  const passwordHash = await hashPassword(input.password);
  const position = await createEntity(
    deps,
    `user-${userId}`,
    {
      type: 'UserRegistered',
      data: { userId, email, name: input.name, role: 'org_admin', passwordHash },
    },
    context,
  );
  return {
    organization: { id: organizationId, name: input.organizationName },
    user: { id: userId, email, name: input.name, role: 'org_admin' },
    position: String(position),
  };
}
