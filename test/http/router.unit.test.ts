import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Router } from '../../src/http/router.ts';

type R = { method: string; path: string; name: string };
const r = (method: string, path: string, name = `${method} ${path}`): R => ({ method, path, name });

const router = new Router<R>([
  r('GET', '/'),
  r('GET', '/healthz'),
  r('GET', '/api/v1/channels'),
  r('POST', '/api/v1/channels'),
  r('GET', '/api/v1/channels/:id'),
  r('DELETE', '/api/v1/channels/:id'),
  r('GET', '/api/v1/channels/new'),
  r('PUT', '/api/v1/channels/:id/members/:userId'),
  r('POST', '/api/v1/channels/export/all'),
]);

const found = (method: string, path: string) => {
  const match = router.match(method, path);
  assert.equal(match.kind, 'found', `${method} ${path}`);
  return match.kind === 'found' ? { name: match.route.name, params: match.params } : undefined;
};

test('matches static paths and extracts decoded parameters', () => {
  assert.deepEqual(found('GET', '/'), { name: 'GET /', params: {} });
  assert.deepEqual(found('GET', '/api/v1/channels'), { name: 'GET /api/v1/channels', params: {} });
  assert.deepEqual(found('GET', '/api/v1/channels/abc'), {
    name: 'GET /api/v1/channels/:id',
    params: { id: 'abc' },
  });
  assert.deepEqual(found('PUT', '/api/v1/channels/c%2F1/members/u%20x'), {
    name: 'PUT /api/v1/channels/:id/members/:userId',
    params: { id: 'c/1', userId: 'u x' },
  });
});

test('prefers a static segment over a parameter, and falls back to the parameter for other methods', () => {
  assert.deepEqual(found('GET', '/api/v1/channels/new'), { name: 'GET /api/v1/channels/new', params: {} });
  assert.deepEqual(found('DELETE', '/api/v1/channels/new'), {
    name: 'DELETE /api/v1/channels/:id',
    params: { id: 'new' },
  });
});

test('answers HEAD with the GET route', () => {
  assert.equal(found('HEAD', '/healthz')?.name, 'GET /healthz');
});

test('reports not found for unknown, empty, trailing-slash and badly encoded paths', () => {
  for (const path of [
    '/nope',
    '/api/v1/channels/',
    '/api/v1//channels',
    '/api/v1/channels/%E0%A4%A',
    'healthz',
    '',
  ]) {
    assert.deepEqual(router.match('GET', path), { kind: 'not_found' }, path);
  }
});

test('reports 405 with every method the path has, HEAD included with GET', () => {
  assert.deepEqual(router.match('PATCH', '/api/v1/channels/42'), {
    kind: 'method_not_allowed',
    pattern: '/api/v1/channels/:id',
    allow: ['DELETE', 'GET', 'HEAD'],
  });
  assert.deepEqual(router.match('GET', '/api/v1/channels/export/all'), {
    kind: 'method_not_allowed',
    pattern: '/api/v1/channels/export/all',
    allow: ['POST'],
  });
  assert.equal(router.match('get', '/healthz').kind, 'method_not_allowed', 'methods are case-sensitive');
});

test('refuses ambiguous or malformed route tables', () => {
  assert.throws(() => new Router([r('GET', '/a'), r('GET', '/a')]), /declared twice/);
  assert.throws(() => new Router([r('GET', '/a/:id'), r('POST', '/a/:key')]), /conflicts/);
  assert.throws(() => new Router([r('GET', '/a/:id/b/:id')]), /repeated/);
  assert.throws(() => new Router([r('GET', '/a/:1d')]), /bad parameter/);
  assert.throws(() => new Router([r('GET', '/a/')]), /empty segment/);
  assert.throws(() => new Router([r('GET', 'a')]), /must start with/);
});
