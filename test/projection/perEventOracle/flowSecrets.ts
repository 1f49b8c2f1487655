import { sql } from 'slonik';
import { flowSecretsProjection } from '../../../projections/flowSecrets.ts';
import { perEvent } from './perEvent.ts';

/**
 * The flow-secrets projection as it was before it became set-based (projection version 1, one event at a
 * time, a statement or two each), kept here only as the reference the set-based projection is checked
 * against (setBasedProjections.int.test.ts). Not used by the server.
 */
export const flowSecretsPerEvent = perEvent(flowSecretsProjection, async (tx, event, { tables: t }) => {
  const org = event.metadata.organizationId;
  const data = event.data as { name: string; sealed?: string };
  if (event.type === 'FlowSecretSet') {
    await tx.query(sql.unsafe`
      INSERT INTO ${t.secrets} (organization_id, name, sealed, updated_at)
      VALUES (${org}, ${data.name}, ${data.sealed ?? ''}, ${event.metadata.occurredAt})
      ON CONFLICT (organization_id, name) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at`);
    return;
  }
  await tx.query(sql.unsafe`DELETE FROM ${t.secrets} WHERE organization_id = ${org} AND name = ${data.name}`);
});
