import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeResult } from '../../src/http/encodeResult.ts';

test('serialises objects as JSON, strings as text and Buffers as bytes', () => {
  assert.deepEqual(encodeResult({ status: 200, body: { a: 1 } }), {
    status: 200,
    headers: { 'content-type': 'application/json' },
    payload: '{"a":1}',
  });
  assert.deepEqual(encodeResult({ status: 200, body: 'hi' }).headers, {
    'content-type': 'text/plain; charset=utf-8',
  });
  const bytes = Buffer.from([1, 2]);
  assert.equal(encodeResult({ status: 200, body: bytes }).payload, bytes);
  assert.deepEqual(encodeResult({ status: 204 }), { status: 204, headers: {}, payload: undefined });
});

test("keeps the handler's content type and lower-cases header names", () => {
  const encoded = encodeResult({
    status: 200,
    headers: { 'Content-Type': 'text/csv', ETag: '"1"' },
    body: 'a,b',
  });
  assert.deepEqual(encoded.headers, { 'content-type': 'text/csv', etag: '"1"' });
});

test('drops the headers the server owns', () => {
  const encoded = encodeResult({ status: 200, headers: { 'Content-Length': '1', Connection: 'keep-alive' } });
  assert.deepEqual(encoded.headers, {});
});

test('throws, before anything is written, on what cannot be sent faithfully', () => {
  assert.throws(
    () => encodeResult({ status: 200, headers: { 'x-a': 'v\r\nSet-Cookie: s=1' } }),
    /unsafe header/,
  );
  assert.throws(() => encodeResult({ status: 200, headers: { 'bad name': 'v' } }), /unsafe header/);
  for (const status of [99, 101, 600, 200.5, Number.NaN])
    assert.throws(() => encodeResult({ status }), /status/);
  assert.throws(() => encodeResult({ status: 200, body: { big: 1n } }), TypeError);
});
