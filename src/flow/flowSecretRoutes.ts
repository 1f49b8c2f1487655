import { type DatabasePool, sql } from 'slonik';
import { asTenant } from '../db/pool.ts';
import { AppError } from '../errors/catalogue.ts';
import { toNewEvents } from '../eventsourcing/commandHandler.ts';
import type { EventStore } from '../eventstore/eventStore.ts';
import type { HttpRequest, Route } from '../http/route.ts';
import type { Authenticator, Principal } from '../identity/authenticator.ts';
import type { SecretBox } from '../identity/secretBox.ts';
import { commandContext, securedRoutes } from '../identity/secured.ts';
import type { ProjectionRunner } from '../projection/projectionRunner.ts';
import { flowSecretContext, flowSecretsStream } from './flowSecretStore.ts';

type Deps = {
  pool: DatabasePool;
  store: EventStore;
  projections: Pick<ProjectionRunner, 'waitFor'>;
  authenticator: Authenticator;
  secretBox: SecretBox;
};

const namePattern = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/**
 * The organization's secrets for flows' API calls (`{{secret.NAME}}`): set, listed by name, removed.
 * A value is sealed before it becomes an event and never leaves the server again.
 */
export function flowSecretRoutes(deps: Deps): Route[] {
  const secured = securedRoutes(deps.authenticator);
  const nameOf = (req: HttpRequest): string => {
    const name = req.params.name ?? '';
    if (!namePattern.test(name)) {
      throw new AppError('http.validation_failed', 'A secret is named with letters, digits and _', [
        { path: '/params/name', message: 'must match ^[A-Za-z_][A-Za-z0-9_]{0,63}$' },
      ]);
    }
    return name;
  };
  const find = async (me: Principal, name: string) =>
    (await asTenant(deps.pool, me.organizationId, (tx) =>
      tx.maybeOne(sql.unsafe`SELECT name, updated_at FROM rm.flow_secrets
        WHERE organization_id = ${me.organizationId} AND name = ${name}`),
    )) as { name: string; updated_at: Date } | null;
  const append = async (me: Principal, req: HttpRequest, type: string, data: unknown) => {
    const { position } = await deps.store.appendToStream(
      flowSecretsStream(me.organizationId),
      toNewEvents([{ type, data }], commandContext(me, req)),
    );
    await deps.projections.waitFor(position, type);
  };
  const toSecret = (row: { name: string; updated_at: Date }) => ({
    name: row.name,
    updatedAt: row.updated_at.toISOString(),
  });

  return [
    secured({
      permission: 'flows.manage',
      method: 'GET',
      path: '/api/v1/flow-secrets',
      response: 'api/flowSecretList',
      summary: "The organization's flow secrets, by name (values are never returned)",
      handler: async (_req, me) => {
        const rows = (await asTenant(deps.pool, me.organizationId, (tx) =>
          tx.any(sql.unsafe`SELECT name, updated_at FROM rm.flow_secrets
            WHERE organization_id = ${me.organizationId} ORDER BY name`),
        )) as readonly { name: string; updated_at: Date }[];
        return { status: 200, body: { items: rows.map(toSecret) } };
      },
    }),
    secured({
      permission: 'flows.manage',
      method: 'PUT',
      path: '/api/v1/flow-secrets/:name',
      body: 'api/setFlowSecret',
      response: 'api/flowSecret',
      summary: "Set a secret for flows' api_call requests ({{secret.NAME}}); it is sealed at once",
      handler: async (req, me) => {
        const name = nameOf(req);
        const { value } = req.json<{ value: string }>();
        const sealed = await deps.secretBox.seal(value, flowSecretContext(me.organizationId, name));
        await append(me, req, 'FlowSecretSet', { name, sealed });
        const row = await find(me, name);
        if (!row) throw new Error(`flow secret ${name} not projected after its append`);
        return { status: 200, body: toSecret(row) };
      },
    }),
    secured({
      permission: 'flows.manage',
      method: 'DELETE',
      path: '/api/v1/flow-secrets/:name',
      status: 204,
      summary: 'Remove a flow secret: api_call requests naming it take their onError branch',
      handler: async (req, me) => {
        const name = nameOf(req);
        if (!(await find(me, name))) throw new AppError('http.not_found', 'No such flow secret');
        await append(me, req, 'FlowSecretRemoved', { name });
        return { status: 204 };
      },
    }),
  ];
}
