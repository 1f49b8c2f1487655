import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildOpenApiDocument, componentName } from '../../src/http/openApi.ts';
import type { Route } from '../../src/http/route.ts';
import type { JsonSchema } from '../../src/schemas/schemaRegistry.ts';

const handler: Route['handler'] = async () => ({ status: 200 });
const schemas: JsonSchema[] = [
  {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'https://pytake.dev/schemas/channels/createChannel',
    type: 'object',
    properties: {
      phone: { $ref: '../common/phone' },
      kind: { $ref: 'https://pytake.dev/schemas/common/phone#/$defs/kind' },
      self: { $ref: '#/properties/phone' },
      anchored: { $ref: '../common/phone#e164' },
      elsewhere: { $ref: 'https://example.com/schema' },
    },
  },
  { $id: 'https://pytake.dev/schemas/common/phone', type: 'string', $defs: { kind: { enum: ['mobile'] } } },
  { $id: 'https://pytake.dev/schemas/http/problem', type: 'object' },
];

test('names components after the schema path', () => {
  assert.equal(componentName('https://pytake.dev/schemas/http/problem'), 'http.problem');
  assert.equal(componentName('events/MessageReceived.v1'), 'events.MessageReceived.v1');
});

test('turns route patterns into OpenAPI paths with parameters and unique operation ids', () => {
  const document = buildOpenApiDocument(
    [
      {
        access: 'public',
        method: 'GET',
        path: '/api/v1/channels/:id/members/:userId',
        handler,
        summary: 'Member',
      },
      { access: 'public', method: 'DELETE', path: '/api/v1/channels/:id', handler, status: 204 },
      {
        access: 'public',
        method: 'POST',
        path: '/api/v1/channels',
        handler,
        body: 'channels/createChannel',
        status: 201,
      },
      {
        access: 'public',
        method: 'POST',
        path: '/api/v1/channels/:id/verify',
        handler,
        body: 'channels/createChannel',
        optionalBody: true,
      },
    ],
    schemas,
    { title: 'T', version: '1' },
  );
  const member = document.paths['/api/v1/channels/{id}/members/{userId}']?.get;
  assert.equal(member?.operationId, 'getApiV1ChannelsByIdMembersByUserId');
  assert.equal(member?.summary, 'Member');
  assert.deepEqual(
    member?.parameters?.map((parameter) => parameter.name),
    ['id', 'userId'],
  );
  assert.deepEqual(Object.keys(document.paths['/api/v1/channels/{id}']?.delete?.responses ?? {}), [
    '204',
    'default',
  ]);
  const create = document.paths['/api/v1/channels']?.post;
  assert.equal(create?.parameters, undefined);
  assert.deepEqual(create?.requestBody, {
    required: true,
    content: { 'application/json': { schema: { $ref: '#/components/schemas/channels.createChannel' } } },
  });
  assert.deepEqual(create?.responses['201'], { description: 'Success' });
  assert.equal(document.paths['/api/v1/channels/{id}/verify']?.post?.requestBody?.required, false);
});

test('rewrites references between registered schemas to component references and drops $id', () => {
  const { components } = buildOpenApiDocument([], schemas, { title: 'T', version: '1' });
  const channel = components.schemas['channels.createChannel'] as Record<string, unknown>;
  assert.equal(channel.$id, undefined);
  assert.equal(channel.$schema, undefined);
  assert.deepEqual(channel.properties, {
    phone: { $ref: '#/components/schemas/common.phone' },
    kind: { $ref: '#/components/schemas/common.phone/$defs/kind' },
    self: { $ref: '#/components/schemas/channels.createChannel/properties/phone' },
    anchored: { $ref: '../common/phone#e164' },
    elsewhere: { $ref: 'https://example.com/schema' },
  });
  assert.deepEqual(Object.keys(components.schemas).sort(), [
    'channels.createChannel',
    'common.phone',
    'http.problem',
  ]);
});
