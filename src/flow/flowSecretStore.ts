import { type DatabasePool, sql } from 'slonik';
import { asTenant } from '../db/pool.ts';
import type { SecretBox } from '../identity/secretBox.ts';

/** One stream per organization holds its flow secrets (sealed), set and removed by name. */
export const flowSecretsStream = (organizationId: string) => `flowsecrets-${organizationId}`;

/** A sealed value opens only for the organization and name it was sealed for. */
export const flowSecretContext = (organizationId: string, name: string) =>
  `flow-secret/${organizationId}/${name}`;

/** The values of the secrets named that the organization has (absent names are left out). */
export async function openFlowSecrets(
  deps: { pool: DatabasePool; secretBox: SecretBox },
  organizationId: string,
  names: readonly string[],
): Promise<Map<string, string>> {
  if (names.length === 0) return new Map();
  const rows = (await asTenant(deps.pool, organizationId, (tx) =>
    tx.any(sql.unsafe`SELECT name, sealed FROM rm.flow_secrets
      WHERE organization_id = ${organizationId} AND name = ANY(${sql.array([...names], 'text')})`),
  )) as readonly { name: string; sealed: string }[];
  const opened = await Promise.all(
    rows.map(
      async (row) =>
        [
          row.name,
          await deps.secretBox.open(row.sealed, flowSecretContext(organizationId, row.name)),
        ] as const,
    ),
  );
  return new Map(opened);
}
