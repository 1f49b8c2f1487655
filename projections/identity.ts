import { sql } from 'slonik';
import { type RecordedEvent, streamId } from '../src/eventstore/eventStore.ts';
import { eachEvent, type Projection } from '../src/projection/projection.ts';
import { createTenantTable } from '../src/projection/tenantTable.ts';

/**
 * Organizations, users, roles, departments, queues and channels. Every row carries the event's
 * organization; inserts ignore rows already there and updates set absolute values. The live tables
 * were first made by migrations 0003 and 0005; `createTables` is their shape today.
 */
type Data = Record<string, unknown>;
type Table = 'organizations' | 'users' | 'roles' | 'departments' | 'queues' | 'channels';

export const identityProjection: Projection<Table> = {
  name: 'identity',
  version: 1,
  tables: {
    organizations: 'rm.organizations',
    users: 'rm.users',
    roles: 'rm.roles',
    departments: 'rm.departments',
    queues: 'rm.queues',
    channels: 'rm.channels',
  },
  async createTables(tx, t) {
    await createTenantTable(
      tx,
      t.organizations,
      sql.fragment`
      organization_id uuid NOT NULL, name text NOT NULL, created_at timestamptz NOT NULL,
      PRIMARY KEY (organization_id)`,
    );
    await createTenantTable(
      tx,
      t.users,
      sql.fragment`
      organization_id uuid NOT NULL, user_id uuid NOT NULL, email text NOT NULL, name text NOT NULL,
      role text NOT NULL, password_hash text NOT NULL, deleted_at timestamptz,
      created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,
      PRIMARY KEY (organization_id, user_id)`,
    );
    await tx.query(sql.unsafe`CREATE INDEX ON ${t.users} (email)`);
    await createTenantTable(
      tx,
      t.roles,
      sql.fragment`
      organization_id uuid NOT NULL, role_id uuid NOT NULL, name text NOT NULL, permissions text[] NOT NULL,
      created_at timestamptz NOT NULL,
      PRIMARY KEY (organization_id, role_id)`,
    );
    await createTenantTable(
      tx,
      t.departments,
      sql.fragment`
      organization_id uuid NOT NULL, department_id uuid NOT NULL, name text NOT NULL,
      created_at timestamptz NOT NULL,
      PRIMARY KEY (organization_id, department_id)`,
    );
    await createTenantTable(
      tx,
      t.queues,
      sql.fragment`
      organization_id uuid NOT NULL, queue_id uuid NOT NULL, name text NOT NULL, department_id uuid,
      agent_ids uuid[] NOT NULL, created_at timestamptz NOT NULL,
      PRIMARY KEY (organization_id, queue_id)`,
    );
    await createTenantTable(
      tx,
      t.channels,
      sql.fragment`
      organization_id uuid NOT NULL, channel_id uuid NOT NULL, name text NOT NULL,
      phone_number_id text NOT NULL, display_phone_number text NOT NULL, waba_id text NOT NULL,
      access_token_sealed text NOT NULL, app_secret_sealed text, verify_token_sealed text,
      deleted_at timestamptz, created_at timestamptz NOT NULL, send_rate_per_second integer,
      PRIMARY KEY (organization_id, channel_id)`,
    );
    await tx.query(sql.unsafe`CREATE INDEX ON ${t.channels} (phone_number_id)`);
  },
  eventTypes: [
    'OrganizationCreated',
    'UserRegistered',
    'UserUpdated',
    'UserDeleted',
    'RoleCreated',
    'DepartmentCreated',
    'QueueCreated',
    'ChannelConnected',
    'ChannelUpdated',
    'ChannelDisconnected',
  ],
  applyBatch: eachEvent(async (tx, event, { tables: t }) => {
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
  }),
};
