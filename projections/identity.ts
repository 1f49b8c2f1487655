import { sql } from 'slonik';
import type { Projection } from '../src/projection/projection.ts';
import { createTenantTable } from '../src/projection/tenantTable.ts';
import { foldIdentity } from './identity/fold.ts';

type Table = 'organizations' | 'users' | 'roles' | 'departments' | 'queues' | 'channels';

/**
 * Organizations, users, roles, departments, queues and channels. Every row carries the event's
 * organization; inserts ignore rows already there and updates set absolute values. The live tables
 * were first made by migrations 0003 and 0005; `createTables` is their shape today. A batch is folded
 * per row in memory (identity/fold.ts) and written with a few statements per table.
 */
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
  async applyBatch(tx, events, { tables: t }) {
    const changes = foldIdentity(events);
    for (const table of Object.keys(changes) as Table[]) await changes[table].write(tx, t[table]);
  },
};
