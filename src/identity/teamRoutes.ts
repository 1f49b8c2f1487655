import { randomUUID } from 'node:crypto';
import { sql } from 'slonik';
import { asTenant } from '../db/pool.ts';
import { AppError } from '../errors/catalogue.ts';
import type { Route } from '../http/route.ts';
import { createEntity } from './entityCommands.ts';
import type { IdentityDeps } from './identityDeps.ts';
import { securedRoutes } from './secured.ts';

/** Departments and queues (with their agents) of the caller's organization. */
export function teamRoutes(deps: IdentityDeps): Route[] {
  const secured = securedRoutes(deps.authenticator);
  return [
    secured({
      permission: 'teams.read',
      method: 'GET',
      path: '/api/v1/departments',
      summary: 'Departments',
      handler: async (_req, me) => {
        const rows = await asTenant(deps.pool, me.organizationId, (tx) =>
          tx.any(sql.unsafe`SELECT department_id AS id, name, created_at AS "createdAt" FROM rm.departments
            WHERE organization_id = ${me.organizationId} ORDER BY name`),
        );
        return { status: 200, body: { items: rows } };
      },
    }),
    secured({
      permission: 'teams.manage',
      method: 'POST',
      path: '/api/v1/departments',
      body: 'api/createDepartment',
      status: 201,
      summary: 'Create a department',
      handler: async (req, me) => {
        const { name } = req.json<{ name: string }>();
        const departmentId = randomUUID();
        const position = await createEntity(
          deps,
          `department-${departmentId}`,
          { type: 'DepartmentCreated', data: { departmentId, name } },
          {
            organizationId: me.organizationId,
            actor: me.userId,
          },
        );
        return { status: 201, body: { id: departmentId, name, position: String(position) } };
      },
    }),
    secured({
      permission: 'teams.read',
      method: 'GET',
      path: '/api/v1/queues',
      summary: 'Queues and their agents',
      handler: async (_req, me) => {
        const rows = await asTenant(deps.pool, me.organizationId, (tx) =>
          tx.any(sql.unsafe`SELECT queue_id AS id, name, department_id AS "departmentId", agent_ids AS "agentIds",
                                   created_at AS "createdAt"
              FROM rm.queues WHERE organization_id = ${me.organizationId} ORDER BY name`),
        );
        return { status: 200, body: { items: rows } };
      },
    }),
    secured({
      permission: 'teams.manage',
      method: 'POST',
      path: '/api/v1/queues',
      body: 'api/createQueue',
      status: 201,
      summary: 'Create a queue with its agents',
      handler: async (req, me) => {
        const body = req.json<{ name: string; departmentId?: string; agentIds?: string[] }>();
        const agentIds = body.agentIds ?? [];
        // References must name this organization's department and users, never another tenant's.
        const found = await asTenant(deps.pool, me.organizationId, (tx) =>
          tx.one(sql.unsafe`SELECT
              (${body.departmentId ?? null}::uuid IS NULL OR EXISTS (SELECT 1 FROM rm.departments
                 WHERE organization_id = ${me.organizationId} AND department_id = ${body.departmentId ?? null}::uuid)) AS department,
              (SELECT array_agg(a) FROM unnest(${sql.array(agentIds, 'uuid')}) AS a
                WHERE NOT EXISTS (SELECT 1 FROM rm.users u WHERE u.organization_id = ${me.organizationId}
                                    AND u.user_id = a AND u.deleted_at IS NULL)) AS missing`),
        );
        const { department, missing } = found as { department: boolean; missing: string[] | null };
        const errors = [
          ...(department ? [] : [{ path: '/departmentId', message: 'no such department' }]),
          ...(missing ?? []).map((id) => ({
            path: `/agentIds/${agentIds.indexOf(id)}`,
            message: 'no such user',
          })),
        ];
        if (errors.length > 0)
          throw new AppError('identity.invalid_reference', 'Unknown department or agents', errors);
        const queueId = randomUUID();
        const data = { queueId, name: body.name, departmentId: body.departmentId ?? null, agentIds };
        const position = await createEntity(
          deps,
          `queue-${queueId}`,
          { type: 'QueueCreated', data },
          {
            organizationId: me.organizationId,
            actor: me.userId,
          },
        );
        const { queueId: id, ...rest } = data;
        return { status: 201, body: { id, ...rest, position: String(position) } };
      },
    }),
  ];
}
