import { sql } from 'slonik';
import type { RecordedEvent } from '../src/eventstore/eventStore.ts';
import { eachEvent, type Projection } from '../src/projection/projection.ts';
import { createTenantTable } from '../src/projection/tenantTable.ts';

/**
 * Each organization's flow secrets, sealed (never opened here): the names for the routes, the sealed
 * values for the flow worker. A removed secret's row goes; its events stay.
 */
export const flowSecretsProjection: Projection<'secrets'> = {
  name: 'flow-secrets',
  version: 1,
  tables: { secrets: 'rm.flow_secrets' },
  async createTables(tx, t) {
    await createTenantTable(
      tx,
      t.secrets,
      sql.fragment`
      organization_id uuid NOT NULL, name text NOT NULL, sealed text NOT NULL, updated_at timestamptz NOT NULL,
      PRIMARY KEY (organization_id, name)`,
    );
  },
  eventTypes: ['FlowSecretSet', 'FlowSecretRemoved'],
  applyBatch: eachEvent(async (tx, event, { tables: t }) => {
    const org = event.metadata.organizationId;
    const data = event.data as { name: string; sealed?: string };
    if (event.type === 'FlowSecretSet') {
      await tx.query(sql.unsafe`
        INSERT INTO ${t.secrets} (organization_id, name, sealed, updated_at)
        VALUES (${org}, ${data.name}, ${data.sealed ?? ''}, ${event.metadata.occurredAt})
        ON CONFLICT (organization_id, name) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at`);
      return;
    }
    await tx.query(
      sql.unsafe`DELETE FROM ${t.secrets} WHERE organization_id = ${org} AND name = ${data.name}`,
    );
  }),
};
