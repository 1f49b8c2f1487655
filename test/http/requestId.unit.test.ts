import assert from 'node:assert/strict';
import { test } from 'node:test';
import { requestIdFrom } from '../../src/http/requestId.ts';

test('keeps a well-formed incoming request id', () => {
  for (const id of ['abc', '7f1c2d3e-0000-4000-8000-000000000000', 'trace:span.1_x', 'x'.repeat(128)]) {
    assert.equal(requestIdFrom(id), id);
  }
});

test('replaces a missing, empty, oversized or unsafe request id with a fresh UUID', () => {
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
  for (const id of [undefined, '', 'x'.repeat(129), 'a b', 'a\r\nSet-Cookie: x', '"quoted"', 'é']) {
    assert.match(requestIdFrom(id), uuid);
  }
  assert.notEqual(requestIdFrom(undefined), requestIdFrom(undefined));
});
