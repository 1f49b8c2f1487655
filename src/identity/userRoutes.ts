import { randomUUID } from 'node:crypto';
import { sql } from 'slonik';
import { asTenant } from '../db/pool.ts';
import { AppError } from '../errors/catalogue.ts';
import type { Route } from '../http/route.ts';
import { uuidParam } from '../http/uuidParam.ts';
import type { Principal } from './authenticator.ts';
import { changeEntity, createEntity } from './entityCommands.ts';
import type { IdentityDeps } from './identityDeps.ts';
import { hashPassword } from './passwords.ts';
import { builtInRoles, isBuiltInRole, isPermission, type Permission, permissionsOf } from './permissions.ts';
import { commandContext, securedRoutes } from './secured.ts';
import { claimUnique, releaseUnique } from './uniqueValues.ts';
import { evolveUser, existingUser } from './userState.ts';

type UserRow = {
  user_id: string;
  email: string;
  name: string;
  role: string;
  created_at: Date;
  updated_at: Date;
};
const toUser = (row: UserRow) => ({
  id: row.user_id,
  email: row.email,
  name: row.name,
  role: row.role,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
});
const userColumns = sql.fragment`user_id, email, name, role, created_at, updated_at`;

/** Users (soft delete) and custom roles of the caller's organization. */
export function userRoutes(deps: IdentityDeps): Route[] {
  const secured = securedRoutes(deps.authenticator);

  /** A role's permissions: built-in, or one of the organization's custom roles (else 422). */
  async function permissionsOfRole(me: Principal, role: string): Promise<Permission[]> {
    if (isBuiltInRole(role)) return permissionsOf(role);
    const held = await asTenant(deps.pool, me.organizationId, (tx) =>
      tx.maybeOneFirst(
        sql.unsafe`SELECT permissions FROM rm.roles WHERE organization_id = ${me.organizationId} AND name = ${role}`,
      ),
    );
    if (held === null) {
      throw new AppError('identity.invalid_reference', `No role named ${role}`, [
        { path: '/role', message: 'unknown role' },
      ]);
    }
    return permissionsOf(role, held as string[]);
  }

  /**
   * Nobody hands out, or acts on someone holding, more than they hold themselves: a role with
   * users.manage alone cannot make an org_admin, promote itself, or reset an org_admin's password.
   */
  async function checkWithinOwnPermissions(me: Principal, role: string, what: string): Promise<void> {
    if (role === 'super_admin' && me.role !== 'super_admin') {
      throw new AppError('auth.forbidden', 'Only a super_admin can grant or manage super_admin');
    }
    const missing = (await permissionsOfRole(me, role)).filter(
      (permission) => !me.permissions.includes(permission),
    );
    if (missing.length > 0) {
      throw new AppError(
        'auth.forbidden',
        `${what} needs permissions you do not hold: ${missing.join(', ')}`,
      );
    }
  }

  async function readUser(me: Principal, userId: string) {
    const row = await asTenant(deps.pool, me.organizationId, (tx) =>
      tx.maybeOne(sql.unsafe`SELECT ${userColumns} FROM rm.users
        WHERE organization_id = ${me.organizationId} AND user_id = ${userId} AND deleted_at IS NULL`),
    );
    if (!row) throw new AppError('http.not_found', 'No such user');
    return toUser(row as UserRow);
  }

  return [
    secured({
      permission: 'users.read',
      method: 'GET',
      path: '/api/v1/users',
      summary: 'Users of the organization (deleted users are not listed)',
      handler: async (_req, me) => {
        const rows = await asTenant(deps.pool, me.organizationId, (tx) =>
          tx.any(sql.unsafe`SELECT ${userColumns} FROM rm.users
            WHERE organization_id = ${me.organizationId} AND deleted_at IS NULL ORDER BY created_at, user_id`),
        );
        return { status: 200, body: { items: (rows as readonly UserRow[]).map(toUser) } };
      },
    }),
    secured({
      permission: 'users.manage',
      method: 'POST',
      path: '/api/v1/users',
      body: 'api/createUser',
      status: 201,
      summary: 'Add a user',
      handler: async (req, me) => {
        const body = req.json<{ email: string; name: string; password: string; role: string }>();
        await checkWithinOwnPermissions(me, body.role, `Granting ${body.role}`);
        const userId = randomUUID();
        const email = body.email.trim().toLowerCase();
        await claimUnique(deps.store, 'email', email, userId, commandContext(me));
        const passwordHash = await hashPassword(body.password);
        const position = await createEntity(
          deps,
          `user-${userId}`,
          {
            type: 'UserRegistered',
            data: { userId, email, name: body.name, role: body.role, passwordHash },
          },
          commandContext(me),
        );
        return { status: 201, body: { ...(await readUser(me, userId)), position: String(position) } };
      },
    }),
    secured({
      permission: 'users.manage',
      method: 'PATCH',
      path: '/api/v1/users/:id',
      body: 'api/updateUser',
      summary: "Change a user's name, role or password",
      handler: async (req, me) => {
        const body = req.json<{ name?: string; role?: string; password?: string }>();
        const userId = uuidParam(req);
        const target = await readUser(me, userId);
        await checkWithinOwnPermissions(me, target.role, 'Changing this user');
        if (body.role !== undefined) await checkWithinOwnPermissions(me, body.role, `Granting ${body.role}`);
        const passwordHash = body.password === undefined ? undefined : await hashPassword(body.password);
        const position = await changeEntity(
          deps,
          `user-${userId}`,
          evolveUser,
          (state) => {
            existingUser(state, me.organizationId);
            return { type: 'UserUpdated', data: { name: body.name, role: body.role, passwordHash } };
          },
          commandContext(me),
        );
        if (passwordHash !== undefined) {
          // A password reset is how a compromised account is taken back: its sessions end now.
          await deps.sessions.revokeUser(me.organizationId, target.id);
          deps.rateLimiter.reset(target.email);
        }
        return {
          status: 200,
          body: { ...(await readUser(me, userId)), position: String(position) },
        };
      },
    }),
    secured({
      permission: 'users.manage',
      method: 'DELETE',
      path: '/api/v1/users/:id',
      status: 204,
      summary: 'Remove a user: they cannot log in any more; history keeps their name',
      handler: async (req, me) => {
        const userId = uuidParam(req);
        const target = await readUser(me, userId);
        await checkWithinOwnPermissions(me, target.role, 'Removing this user');
        await changeEntity(
          deps,
          `user-${userId}`,
          evolveUser,
          (state) => {
            existingUser(state, me.organizationId);
            return { type: 'UserDeleted', data: {} };
          },
          commandContext(me),
        );
        await deps.sessions.revokeUser(me.organizationId, userId);
        await releaseUnique(deps.store, 'email', target.email, userId, commandContext(me));
        return { status: 204 };
      },
    }),
    secured({
      permission: 'users.read',
      method: 'GET',
      path: '/api/v1/roles',
      summary: 'Built-in and custom roles with their permissions',
      handler: async (_req, me) => {
        const rows = await asTenant(deps.pool, me.organizationId, (tx) =>
          tx.any(sql.unsafe`SELECT role_id, name, permissions FROM rm.roles
            WHERE organization_id = ${me.organizationId} ORDER BY name`),
        );
        const builtIn = builtInRoles.map((name) => ({
          id: null,
          name,
          builtIn: true,
          permissions: permissionsOf(name),
        }));
        const custom = (rows as readonly { role_id: string; name: string; permissions: string[] }[]).map(
          (row) => ({
            id: row.role_id,
            name: row.name,
            builtIn: false,
            permissions: row.permissions,
          }),
        );
        return { status: 200, body: { items: [...builtIn, ...custom] } };
      },
    }),
    secured({
      permission: 'users.manage',
      method: 'POST',
      path: '/api/v1/roles',
      body: 'api/createRole',
      status: 201,
      summary: 'Create a custom role holding named permissions',
      handler: async (req, me) => {
        const body = req.json<{ name: string; permissions: string[] }>();
        const unknown = body.permissions
          .map((permission, index) => ({ permission, index }))
          .filter(({ permission }) => !isPermission(permission));
        if (unknown.length > 0 || isBuiltInRole(body.name)) {
          throw new AppError('http.validation_failed', 'Unknown permissions or a reserved role name', [
            ...unknown.map(({ permission, index }) => ({
              path: `/permissions/${index}`,
              message: `unknown permission ${permission}`,
            })),
            ...(isBuiltInRole(body.name) ? [{ path: '/name', message: 'is a built-in role' }] : []),
          ]);
        }
        const roleId = randomUUID();
        await claimUnique(
          deps.store,
          'role_name',
          `${me.organizationId}:${body.name.toLowerCase()}`,
          roleId,
          commandContext(me),
        );
        const position = await createEntity(
          deps,
          `role-${roleId}`,
          { type: 'RoleCreated', data: { roleId, name: body.name, permissions: body.permissions } },
          commandContext(me),
        );
        return {
          status: 201,
          body: {
            id: roleId,
            name: body.name,
            builtIn: false,
            permissions: body.permissions,
            position: String(position),
          },
        };
      },
    }),
  ];
}
