/**
 * `npm run replay -- [projection…]`: rebuilds projections (all when none is named) from the event
 * store into new tables while the server keeps serving the old ones, then swaps them in. Nothing is
 * dropped: the old tables stay as `<table>__retired_<stamp>`, listed at the end. `--list` shows the
 * projections, their versions and checkpoints.
 */
import { parseArgs } from 'node:util';
import { sql } from 'slonik';
import { allProjections } from '../projections/index.ts';
import { rebuildProjection } from '../src/projection/rebuild.ts';
import { openOperatorStores } from './operatorStores.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { list: { type: 'boolean' }, 'batch-size': { type: 'string' } },
});
const unknown = positionals.filter((name) => !allProjections.some((projection) => projection.name === name));
if (unknown.length > 0) {
  console.error(`replay: no projection named ${unknown.join(', ')}`);
  console.error(`projections: ${allProjections.map((projection) => projection.name).join(', ')}`);
  process.exit(2);
}
const chosen =
  positionals.length === 0
    ? allProjections
    : allProjections.filter((projection) => positionals.includes(projection.name));

const { pool, store, close } = await openOperatorStores({ migrate: true, poolSize: 4 });
try {
  if (values.list) {
    const rows = (await pool.any(
      sql.unsafe`SELECT name, version, position, updated_at FROM projection.checkpoints`,
    )) as readonly { name: string; version: number; position: bigint; updated_at: number }[];
    for (const projection of allProjections) {
      const row = rows.find((candidate) => candidate.name === projection.name);
      console.log(
        `${projection.name.padEnd(22)} code v${projection.version}  ${
          row ? `tables v${row.version} at position ${row.position}` : 'not started'
        }`,
      );
    }
  } else {
    for (const projection of chosen) {
      let shown = 0;
      const result = await rebuildProjection({ store, pool }, projection, {
        batchSize: Number(values['batch-size'] ?? 1000),
        onProgress(events) {
          if (events - shown >= 100_000) {
            shown = events;
            console.log(`  ${projection.name}: ${events} events`);
          }
        },
      });
      console.log(
        `${result.projection} v${result.version}: ${result.events} events in ${result.seconds.toFixed(1)} s (${Math.round(result.events / Math.max(result.seconds, 0.001))}/s), swapped in`,
      );
      for (const table of result.retired) console.log(`  kept the previous table as ${table}`);
    }
  }
} catch (error) {
  console.error(`replay failed: ${(error as Error).message}`);
  process.exitCode = 1;
} finally {
  await close();
}
