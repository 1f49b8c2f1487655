import { sql } from 'slonik';
import type { Projection } from '../src/projection/projection.ts';
import { RowChanges } from '../src/projection/rowChanges.ts';
import { createTenantTable } from '../src/projection/tenantTable.ts';

type SecretRow = { organization_id: string; name: string; sealed: string; updated_at: string };

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
  async applyBatch(tx, events, { tables: t }) {
    const secrets = new RowChanges<SecretRow>(['organization_id', 'name']);
    for (const event of events) {
      const data = event.data as { name: string; sealed?: string };
      const key = { organization_id: event.metadata.organizationId, name: data.name };
      if (event.type === 'FlowSecretSet') {
        // A secret already there takes the new value.
        const value = { sealed: data.sealed ?? '', updated_at: event.metadata.occurredAt };
        secrets.create({ ...key, ...value });
        secrets.set(key, value);
      } else {
        secrets.delete(key);
      }
    }
    await secrets.write(tx, t.secrets);
  },
};
