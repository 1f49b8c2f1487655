import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeCursor, encodeCursor } from '../../src/conversation/conversationQueries.ts';
import { AppError } from '../../src/errors/catalogue.ts';
import { queryEnum, queryLimit, queryMatching, queryParam } from '../../src/http/queryParams.ts';

const q = (text: string) => new URLSearchParams(text);
const refused = (name: string) => (error: unknown) =>
  error instanceof AppError &&
  error.status === 400 &&
  error.code === 'http.invalid_query' &&
  error.errors[0]?.path === `/query/${name}`;

describe('query string parameters', () => {
  it('treat empty as absent and refuse repeats', () => {
    assert.equal(queryParam(q('search='), 'search'), undefined);
    assert.equal(queryParam(q('search=ana'), 'search'), 'ana');
    assert.throws(() => queryParam(q('status=open&status=pending'), 'status'), refused('status'));
  });

  it('bound limits', () => {
    assert.equal(queryLimit(q(''), 50, 100), 50);
    assert.equal(queryLimit(q('limit=100'), 50, 100), 100);
    for (const bad of ['0', '101', '-1', '1.5', 'ten', '1e2', '9999999999'])
      assert.throws(() => queryLimit(q(`limit=${bad}`), 50, 100), refused('limit'), bad);
  });

  it('check enums and patterns', () => {
    assert.equal(queryEnum(q('status=open'), 'status', ['open', 'resolved']), 'open');
    assert.throws(() => queryEnum(q('status=closed'), 'status', ['open', 'resolved']), refused('status'));
    assert.throws(() => queryMatching(q('before=12a'), 'before', /^\d+$/, 'a position'), refused('before'));
  });

  it('round-trip keyset cursors and refuse any other', () => {
    const id = '0b6d1f2e-8c1a-5d3e-9f00-000000000001';
    const cursor = encodeCursor(1795680000123456n, id);
    assert.match(cursor, /^[A-Za-z0-9_-]+$/);
    assert.deepEqual(decodeCursor(cursor), { micros: 1795680000123456n, id });
    const forged = [
      'not a cursor',
      Buffer.from('1:2').toString('base64url'),
      Buffer.from(`x:${id}`).toString('base64url'),
      Buffer.from(`1795680000123456:${id}; DROP TABLE`).toString('base64url'),
      '',
    ];
    for (const cursor of forged) assert.throws(() => decodeCursor(cursor), refused('cursor'), cursor);
  });
});
