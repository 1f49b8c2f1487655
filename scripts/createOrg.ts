/**
 * `npm run create-org -- --name NAME --email EMAIL --password PASSWORD`: creates an organization
 * and its first org_admin, through the same events as sign-up, and prints their ids.
 */
import { parseArgs } from 'node:util';
import { identityProjection } from '../projections/identity.ts';
import { createOrganization } from '../src/identity/authRoutes.ts';
import { ProjectionRunner } from '../src/projection/projectionRunner.ts';
import { SchemaRegistry } from '../src/schemas/schemaRegistry.ts';
import { openOperatorStores } from './operatorStores.ts';

const { values } = parseArgs({
  options: {
    name: { type: 'string' },
    email: { type: 'string' },
    password: { type: 'string' },
    'admin-name': { type: 'string' },
  },
});
const registry = new SchemaRegistry();
const input = {
  organizationName: values.name ?? '',
  name: values['admin-name'] ?? values.email?.split('@')[0] ?? '',
  email: values.email ?? '',
  password: values.password ?? '',
};
const problems = registry.validate('api/signup', input);
if (problems.length > 0) {
  console.error(
    'usage: npm run create-org -- --name NAME --email EMAIL --password PASSWORD [--admin-name NAME]',
  );
  for (const problem of problems) console.error(`  ${problem.path}: ${problem.message}`);
  process.exit(2);
}

const { pool, store, logger, close } = await openOperatorStores({ migrate: true, poolSize: 4 });
// The read models are brought up to date here too, so the new admin can log in at once.
const projections = new ProjectionRunner(store, pool, [identityProjection], logger);
await projections.start();
try {
  const created = await createOrganization({ store, projections }, input);
  console.log(`organization ${created.organization.id} (${created.organization.name})`);
  console.log(`org_admin    ${created.user.id} <${created.user.email}>`);
} catch (error) {
  console.error(`create-org failed: ${(error as Error).message}`);
  process.exitCode = 1;
} finally {
  await projections.stop();
  await close();
}
