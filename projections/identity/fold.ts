import { type RecordedEvent, streamId } from '../../src/eventstore/eventStore.ts';
import { RowChanges } from '../../src/projection/rowChanges.ts';

/**
 * The identity projection's batch, folded in memory: what each event does to its table's row, as the
 * per-event SQL of the projection's first version did it. Every row carries the event's organization.
 */
type OrganizationRow = { organization_id: string; name: string; created_at: string };
type UserRow = {
  organization_id: string;
  user_id: string;
  email: string;
  name: string;
  role: string;
  password_hash: string;
  deleted_at: string | null;
  created_at: string;
  updated_at: string;
};
type RoleRow = {
  organization_id: string;
  role_id: string;
  name: string;
  permissions: string[];
  created_at: string;
};
type DepartmentRow = { organization_id: string; department_id: string; name: string; created_at: string };
type QueueRow = {
  organization_id: string;
  queue_id: string;
  name: string;
  department_id: string | null;
  agent_ids: string[];
  created_at: string;
};
type ChannelRow = {
  organization_id: string;
  channel_id: string;
  name: string;
  phone_number_id: string;
  display_phone_number: string;
  waba_id: string;
  access_token_sealed: string;
  app_secret_sealed: string | null;
  verify_token_sealed: string | null;
  deleted_at: string | null;
  created_at: string;
  send_rate_per_second: number | null;
};

export type IdentityChanges = ReturnType<typeof identityChanges>;

const identityChanges = () => ({
  organizations: new RowChanges<OrganizationRow>(['organization_id']),
  users: new RowChanges<UserRow>(['organization_id', 'user_id']),
  roles: new RowChanges<RoleRow>(['organization_id', 'role_id']),
  departments: new RowChanges<DepartmentRow>(['organization_id', 'department_id']),
  queues: new RowChanges<QueueRow>(['organization_id', 'queue_id']),
  channels: new RowChanges<ChannelRow>(['organization_id', 'channel_id']),
});

type Data = Record<string, unknown>;

export function foldIdentity(events: readonly RecordedEvent[]): IdentityChanges {
  const changes = identityChanges();
  for (const event of events) {
    const org = event.metadata.organizationId;
    const at = event.metadata.occurredAt;
    const data = event.data as Data;
    const user = { organization_id: org, user_id: streamId(event.streamName) };
    const channel = { organization_id: org, channel_id: streamId(event.streamName) };
    switch (event.type) {
      case 'OrganizationCreated':
        changes.organizations.create({ organization_id: org, name: String(data.name), created_at: at });
        break;
      case 'UserRegistered':
        changes.users.create({
          organization_id: org,
          user_id: String(data.userId),
          email: String(data.email).toLowerCase(),
          name: String(data.name),
          role: String(data.role),
          password_hash: String(data.passwordHash),
          deleted_at: null,
          created_at: at,
          updated_at: at,
        });
        break;
      case 'UserUpdated':
        // An absent field keeps its value.
        changes.users.set(user, {
          name: (data.name as string | null | undefined) ?? undefined,
          role: (data.role as string | null | undefined) ?? undefined,
          password_hash: (data.passwordHash as string | null | undefined) ?? undefined,
          updated_at: at,
        });
        break;
      case 'UserDeleted':
        changes.users.set(user, { deleted_at: at, updated_at: at });
        break;
      case 'RoleCreated':
        changes.roles.create({
          organization_id: org,
          role_id: String(data.roleId),
          name: String(data.name),
          permissions: data.permissions as string[],
          created_at: at,
        });
        break;
      case 'DepartmentCreated':
        changes.departments.create({
          organization_id: org,
          department_id: String(data.departmentId),
          name: String(data.name),
          created_at: at,
        });
        break;
      case 'QueueCreated':
        changes.queues.create({
          organization_id: org,
          queue_id: String(data.queueId),
          name: String(data.name),
          department_id: (data.departmentId as string | null) ?? null,
          agent_ids: data.agentIds as string[],
          created_at: at,
        });
        break;
      case 'ChannelConnected':
        changes.channels.create({
          organization_id: org,
          channel_id: String(data.channelId),
          name: String(data.name),
          phone_number_id: String(data.phoneNumberId),
          display_phone_number: String(data.displayPhoneNumber),
          waba_id: String(data.wabaId),
          access_token_sealed: String(data.accessTokenSealed),
          app_secret_sealed: (data.appSecretSealed as string | null) ?? null,
          verify_token_sealed: (data.verifyTokenSealed as string | null) ?? null,
          deleted_at: null,
          created_at: at,
          send_rate_per_second: (data.sendRatePerSecond as number | undefined) ?? null,
        });
        break;
      case 'ChannelUpdated':
        // An absent field keeps its value; a null rate returns the number to the default.
        changes.channels.set(channel, {
          name: (data.name as string | null | undefined) ?? undefined,
          ...('sendRatePerSecond' in data
            ? { send_rate_per_second: (data.sendRatePerSecond as number | null) ?? null }
            : {}),
        });
        break;
      case 'ChannelDisconnected':
        changes.channels.set(channel, { deleted_at: at });
        break;
      default:
        break;
    }
  }
  return changes;
}
