import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AppError, errorCatalogue } from '../../src/errors/catalogue.ts';
import { problemFor } from '../../src/http/problem.ts';

test('maps an AppError to Problem Details with its code, field errors and headers', () => {
  const error = new AppError('http.validation_failed', 'bad body', [{ path: '/name', message: 'required' }], {
    'retry-after': '3',
  });
  assert.deepEqual(problemFor(error, 'req-1'), {
    status: 422,
    headers: { 'retry-after': '3', 'content-type': 'application/problem+json' },
    body: {
      type: 'https://pytake.dev/errors/http.validation_failed',
      title: errorCatalogue['http.validation_failed'].title,
      status: 422,
      detail: 'bad body',
      code: 'http.validation_failed',
      errors: [{ path: '/name', message: 'required' }],
      requestId: 'req-1',
    },
  });
});

test('omits `errors` when there are none and uses the title as the default detail', () => {
  const { body } = problemFor(new AppError('http.not_found'), 'req-2');
  assert.deepEqual(body, {
    type: 'https://pytake.dev/errors/http.not_found',
    title: 'Not found',
    status: 404,
    detail: 'Not found',
    code: 'http.not_found',
    requestId: 'req-2',
  });
});

test('turns anything else into a generic 500 that reveals nothing', () => {
  for (const thrown of [new Error('password=hunter2'), 'a string', null, { stack: 'at secret.ts:1' }]) {
    const result = problemFor(thrown, 'req-3');
    assert.equal(result.status, 500);
    const text = JSON.stringify(result.body);
    assert.doesNotMatch(text, /hunter2|secret|stack|a string/);
    assert.equal((result.body as { code: string }).code, 'internal.unexpected');
  }
});
