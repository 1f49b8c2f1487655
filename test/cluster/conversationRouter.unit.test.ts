import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type CommandReply,
  decodeReply,
  encode,
  encodeError,
  encodeResult,
} from '../../src/cluster/conversationRouter.ts';
import { AppError } from '../../src/errors/catalogue.ts';
import { WrongExpectedRevisionError } from '../../src/eventstore/errors.ts';

/** What crosses Redis: encoded, serialised, parsed back, decoded. */
const roundTrip = (reply: CommandReply & { type: 'result' | 'error' }) =>
  decodeReply(JSON.parse(encode(reply)) as CommandReply & { type: 'result' | 'error' });

describe('forwarded command replies', () => {
  it('carry a TurnResult with positions beyond 2^53 as decimal strings', () => {
    const result = { position: 2n ** 60n + 1n, revision: 41n, events: 3 };
    assert.deepEqual(roundTrip({ id: 'r', type: 'result', result: encodeResult(result) }), result);
    const nothing = { position: null, revision: -1n, events: 0 };
    assert.deepEqual(roundTrip({ id: 'r', type: 'result', result: encodeResult(nothing) }), nothing);
  });

  it('throw the AppError the owner threw: code, status, message, field errors and headers', () => {
    const original = new AppError(
      'http.validation_failed',
      'bad body',
      [{ path: '/text', message: 'must be a string' }],
      { 'retry-after': '2' },
    );
    assert.throws(
      () => roundTrip({ id: 'e', type: 'error', error: encodeError(original) }),
      (error: unknown) =>
        error instanceof AppError &&
        error.code === original.code &&
        error.status === original.status &&
        error.message === original.message &&
        JSON.stringify(error.errors) === JSON.stringify(original.errors) &&
        JSON.stringify(error.headers) === JSON.stringify(original.headers),
    );
    const conflict = new WrongExpectedRevisionError('conversation-x', 3n, 5n);
    assert.throws(
      () => roundTrip({ id: 'e', type: 'error', error: encodeError(conflict) }),
      (error: unknown) => error instanceof AppError && error.code === 'eventstore.wrong_expected_revision',
    );
  });

  it('turn anything else (a bug, an outage, a code this node does not know) into a plain error: a 500', () => {
    for (const error of [
      encodeError(new TypeError('boom')),
      { code: 'from.a.newer.node', message: 'x', errors: [], headers: {} },
    ]) {
      assert.throws(
        () => roundTrip({ id: 'e', type: 'error', error }),
        (thrown: unknown) => thrown instanceof Error && !(thrown instanceof AppError),
      );
    }
  });
});
