import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AppError } from '../../src/errors/catalogue.ts';
import { parseJsonBody } from '../../src/http/jsonBody.ts';

const fails = (raw: Buffer, contentType: string | undefined, code: string) =>
  assert.throws(
    () => parseJsonBody(raw, contentType),
    (error: unknown) => error instanceof AppError && error.code === code,
  );

test('parses JSON sent as application/json or a +json type, parameters and case ignored', () => {
  const raw = Buffer.from('{"a":[1,"é"]}');
  for (const type of [
    'application/json',
    'Application/JSON; charset=utf-8',
    'application/merge-patch+json',
  ]) {
    assert.deepEqual(parseJsonBody(raw, type), { a: [1, 'é'] });
  }
});

test('refuses other or missing media types (415)', () => {
  for (const type of [
    undefined,
    '',
    'text/plain',
    'application/x-www-form-urlencoded',
    'application/jsonp',
  ]) {
    fails(Buffer.from('{}'), type, 'http.unsupported_media_type');
  }
});

test('refuses empty, truncated, non-JSON and non-UTF-8 bodies (400)', () => {
  for (const raw of ['', '{"a":', 'undefined', "{'a':1}"])
    fails(Buffer.from(raw), 'application/json', 'http.malformed_json');
  fails(Buffer.from([0x22, 0xc3, 0x28, 0x22]), 'application/json', 'http.malformed_json');
});
