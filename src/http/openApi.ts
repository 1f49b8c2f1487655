import { fullSchemaId, type JsonSchema, schemaIdBase } from '../schemas/schemaRegistry.ts';
import type { Route } from './route.ts';

export type OpenApiDocument = {
  openapi: '3.1.0';
  info: { title: string; version: string; description?: string };
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
};

type Operation = {
  operationId: string;
  /** Bearer authentication, for routes whose access is not 'public'. */
  security?: { bearer: [] }[];
  /** The permission the caller must hold ('authenticated': any signed-in user). */
  'x-permission'?: string;
  summary?: string;
  parameters?: { name: string; in: 'path'; required: true; schema: { type: 'string' } }[];
  requestBody?: { required: boolean; content: Record<string, { schema: SchemaRef }> };
  responses: Record<string, { description: string; content?: Record<string, { schema: SchemaRef }> }>;
};

type SchemaRef = { $ref: string };

const problemSchema = 'http/problem';

/** `https://pytake.dev/schemas/http/problem` → `http.problem` (component names allow no slash). */
export const componentName = (id: string): string =>
  fullSchemaId(id)
    .slice(schemaIdBase.length)
    .replace(/\//g, '.')
    .replace(/[^A-Za-z0-9._-]/g, '_');

const ref = (id: string): SchemaRef => ({ $ref: `#/components/schemas/${componentName(id)}` });

/**
 * OpenAPI 3.1 from the route table, with every registered schema as a component, so schemas/ stays
 * the single source. `$ref`s between schemas are rewritten to component references and `$id`s dropped:
 * many OpenAPI tools do not resolve `$id`-based references.
 */
export function buildOpenApiDocument(
  routes: readonly Route[],
  schemas: readonly JsonSchema[],
  info: OpenApiDocument['info'],
): OpenApiDocument {
  const known = new Set(schemas.map((schema) => schema.$id));
  const paths: OpenApiDocument['paths'] = {};
  for (const route of routes) {
    const path = route.path.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}');
    paths[path] ??= {};
    paths[path][route.method.toLowerCase()] = operation(route);
  }
  const components: Record<string, unknown> = {};
  for (const schema of schemas) {
    const { $id, $schema: _dialect, ...rest } = schema;
    components[componentName($id)] = rewriteRefs(rest, $id, known);
  }
  const securitySchemes = { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } };
  return { openapi: '3.1.0', info, paths, components: { schemas: components, securitySchemes } };
}

function operation(route: Route): Operation {
  const params = [...route.path.matchAll(/:([A-Za-z_][A-Za-z0-9_]*)/g)].map((match) => match[1] ?? '');
  const status = String(route.status ?? 200);
  return {
    operationId: operationId(route),
    ...(route.access === 'public' ? {} : { security: [{ bearer: [] }], 'x-permission': route.access }),
    ...(route.summary === undefined ? {} : { summary: route.summary }),
    ...(params.length === 0
      ? {}
      : {
          parameters: params.map((name) => ({
            name,
            in: 'path' as const,
            required: true as const,
            schema: { type: 'string' as const },
          })),
        }),
    ...(route.body === undefined
      ? {}
      : {
          requestBody: {
            required: !route.optionalBody,
            content: { 'application/json': { schema: ref(route.body) } },
          },
        }),
    responses: {
      [status]:
        route.response === undefined
          ? { description: 'Success' }
          : { description: 'Success', content: { 'application/json': { schema: ref(route.response) } } },
      default: {
        description: 'Problem Details (RFC 9457)',
        content: { 'application/problem+json': { schema: ref(problemSchema) } },
      },
    },
  };
}

/** `GET /api/v1/channels/:id` → `getApiV1ChannelsById`. */
function operationId(route: Route): string {
  const words = route.path
    .replace(/:/g, 'by/')
    .replace(/[^A-Za-z0-9]+(.)?/g, (_, next?: string) => (next ?? '').toUpperCase());
  return route.method.toLowerCase() + words;
}

function rewriteRefs(value: unknown, baseId: string, known: ReadonlySet<string>): unknown {
  if (Array.isArray(value)) return value.map((item) => rewriteRefs(item, baseId, known));
  if (value === null || typeof value !== 'object') return value;
  const result: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    result[key] =
      key === '$ref' && typeof item === 'string'
        ? rewriteRef(item, baseId, known)
        : rewriteRefs(item, baseId, known);
  }
  return result;
}

/** Resolves a `$ref` against its schema's `$id`; a reference to a registered schema becomes a component one. */
function rewriteRef(reference: string, baseId: string, known: ReadonlySet<string>): string {
  const target = new URL(reference, baseId);
  const fragment = target.hash;
  target.hash = '';
  // Only JSON-pointer fragments can be carried over; a plain-name `$anchor` reference is left alone.
  if (!known.has(target.href) || (fragment !== '' && !fragment.startsWith('#/'))) return reference;
  return `#/components/schemas/${componentName(target.href)}${fragment.slice(1)}`;
}
