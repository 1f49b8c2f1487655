/**
 * The one permission catalogue. Every protected route names one of these; built-in roles are fixed
 * sets of them, and custom roles (POST /roles) hold any subset.
 */
export const permissions = [
  'conversations.read',
  'conversations.read_unassigned',
  'conversations.reply',
  'conversations.assign',
  'contacts.read',
  'contacts.write',
  'flows.manage',
  'channels.read',
  'channels.manage',
  'users.read',
  'users.manage',
  'teams.read',
  'teams.manage',
  'campaigns.manage',
  'reports.read',
] as const;

export type Permission = (typeof permissions)[number];

export const builtInRoles = ['super_admin', 'org_admin', 'agent', 'viewer'] as const;
export type BuiltInRole = (typeof builtInRoles)[number];

const builtInPermissions: Record<BuiltInRole, readonly Permission[]> = {
  super_admin: permissions,
  org_admin: permissions,
  agent: [
    'conversations.read',
    'conversations.reply',
    'conversations.assign',
    'contacts.read',
    'contacts.write',
    'channels.read',
    'users.read',
    'teams.read',
  ],
  viewer: [
    'conversations.read',
    'conversations.read_unassigned',
    'contacts.read',
    'channels.read',
    'users.read',
    'teams.read',
    'reports.read',
  ],
};

export const isBuiltInRole = (role: string): role is BuiltInRole =>
  (builtInRoles as readonly string[]).includes(role);
export const isPermission = (name: string): name is Permission =>
  (permissions as readonly string[]).includes(name);

/** A user's permissions: their built-in role's set, or their custom role's (looked up by the caller). */
export function permissionsOf(role: string, customRolePermissions?: readonly string[]): Permission[] {
  if (isBuiltInRole(role)) return [...builtInPermissions[role]];
  return (customRolePermissions ?? []).filter(isPermission);
}
