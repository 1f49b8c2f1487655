import assert from 'node:assert/strict';
import { SchemaRegistry } from '../../src/schemas/schemaRegistry.ts';
import type { Response } from './app.ts';

const registry = new SchemaRegistry();

/** A response with the expected status whose body matches its schema; answers the body. */
export function ok(response: Response, schema: string, status = 200) {
  assert.equal(response.status, status, JSON.stringify(response.body));
  assert.deepEqual(
    registry.validate(schema, response.body),
    [],
    `${schema}: ${JSON.stringify(response.body)}`,
  );
  // biome-ignore lint/suspicious/noExplicitAny: tests read JSON bodies field by field
  return response.body as any;
}
