import { sql } from 'slonik';
import { identityProjection } from '../../../projections/identity.ts';
import { streamId } from '../../../src/eventstore/eventStore.ts';
import { perEvent } from './perEvent.ts';

/**
 * The identity projection as it was before it became set-based (projection version 1, one event at a
 * time, a statement or two each), kept here only as the reference the set-based projection is checked
 * against (setBasedProjections.int.test.ts). Not used by the server.
 */
type Data = Record<string, unknown>;

export const identityPerEvent = perEvent(identityProjection, async (tx, event, { tables: t }) => {
  const org = event.metadata.organizationId;
  const at = event.metadata.occurredAt;
  const data = event.data as Data;
  switch (event.type) {
    case 'OrganizationCreated':
      await tx.query(sql.unsafe`
        INSERT INTO ${t.organizations} (organization_id, name, created_at) VALUES (${org}, ${String(data.name)}, ${at})
        ON CONFLICT DO NOTHING`);
      return;
    case 'UserRegistered':
      await tx.query(sql.unsafe`
        INSERT INTO ${t.users} (organization_id, user_id, email, name, role, password_hash, created_at, updated_at)
        VALUES (${org}, ${String(data.userId)}, ${String(data.email).toLowerCase()}, ${String(data.name)},
                ${String(data.role)}, ${String(data.passwordHash)}, ${at}, ${at})
        ON CONFLICT DO NOTHING`);
      return;
    case 'UserUpdated':
      await tx.query(sql.unsafe`
        UPDATE ${t.users} SET name = coalesce(${(data.name as string) ?? null}, name),
                            role = coalesce(${(data.role as string) ?? null}, role),
                            password_hash = coalesce(${(data.passwordHash as string) ?? null}, password_hash),
                            updated_at = ${at}
         WHERE organization_id = ${org} AND user_id = ${streamId(event.streamName)}`);
      return;
    case 'UserDeleted':
      await tx.query(sql.unsafe`
        UPDATE ${t.users} SET deleted_at = ${at}, updated_at = ${at}
         WHERE organization_id = ${org} AND user_id = ${streamId(event.streamName)}`);
      return;
    case 'RoleCreated':
      await tx.query(sql.unsafe`
        INSERT INTO ${t.roles} (organization_id, role_id, name, permissions, created_at)
        VALUES (${org}, ${String(data.roleId)}, ${String(data.name)}, ${sql.array(data.permissions as string[], 'text')}, ${at})
        ON CONFLICT DO NOTHING`);
      return;
    case 'DepartmentCreated':
      await tx.query(sql.unsafe`
        INSERT INTO ${t.departments} (organization_id, department_id, name, created_at)
        VALUES (${org}, ${String(data.departmentId)}, ${String(data.name)}, ${at})
        ON CONFLICT DO NOTHING`);
      return;
    case 'QueueCreated':
      await tx.query(sql.unsafe`
        INSERT INTO ${t.queues} (organization_id, queue_id, name, department_id, agent_ids, created_at)
        VALUES (${org}, ${String(data.queueId)}, ${String(data.name)}, ${(data.departmentId as string | null) ?? null},
                ${sql.array(data.agentIds as string[], 'uuid')}, ${at})
        ON CONFLICT DO NOTHING`);
      return;
    case 'ChannelConnected':
      await tx.query(sql.unsafe`
        INSERT INTO ${t.channels} (organization_id, channel_id, name, phone_number_id, display_phone_number, waba_id,
                                 access_token_sealed, app_secret_sealed, verify_token_sealed, send_rate_per_second,
                                 created_at)
        VALUES (${org}, ${String(data.channelId)}, ${String(data.name)}, ${String(data.phoneNumberId)},
                ${String(data.displayPhoneNumber)}, ${String(data.wabaId)}, ${String(data.accessTokenSealed)},
                ${(data.appSecretSealed as string | null) ?? null}, ${(data.verifyTokenSealed as string | null) ?? null},
                ${(data.sendRatePerSecond as number | undefined) ?? null}, ${at})
        ON CONFLICT DO NOTHING`);
      return;
    case 'ChannelUpdated':
      // An absent field keeps its value; a null rate returns the number to the default.
      await tx.query(sql.unsafe`
        UPDATE ${t.channels} SET name = coalesce(${(data.name as string | undefined) ?? null}, name),
                               send_rate_per_second = CASE WHEN ${'sendRatePerSecond' in data}
                                 THEN ${(data.sendRatePerSecond as number | null | undefined) ?? null}::int
                                 ELSE send_rate_per_second END
         WHERE organization_id = ${org} AND channel_id = ${streamId(event.streamName)}`);
      return;
    case 'ChannelDisconnected':
      await tx.query(sql.unsafe`
        UPDATE ${t.channels} SET deleted_at = ${at}
         WHERE organization_id = ${org} AND channel_id = ${streamId(event.streamName)}`);
      return;
    default:
      return;
  }
});
