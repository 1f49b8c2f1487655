import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AppError } from '../../src/errors/catalogue.ts';
import type { GraphClient, PhoneNumberOutcome } from '../../src/whatsapp/graphClient.ts';
import { phoneNumberVerifier } from '../../src/whatsapp/phoneNumberVerifier.ts';

const graphAnswering = (outcome: PhoneNumberOutcome): GraphClient => ({
  sendMessage: () => Promise.reject(new Error('not used')),
  phoneNumber: async () => outcome,
});

describe('phoneNumberVerifier', () => {
  it('accepts a number the Graph API shows to the token', async () => {
    await phoneNumberVerifier(graphAnswering({ ok: true }), 'graph')('1', 'token');
  });

  it("refuses one it will not show, with Meta's code and title, at the access token", async () => {
    const verify = phoneNumberVerifier(
      graphAnswering({
        ok: false,
        retryable: false,
        error: { code: 190, title: 'Invalid OAuth access token' },
      }),
      'graph',
    );
    await assert.rejects(verify('1', 'token'), (error: AppError) => {
      assert.equal(error.code, 'identity.channel_not_verified');
      assert.match(error.message, /190: Invalid OAuth access token/);
      assert.equal(error.errors[0]?.path, '/accessToken');
      return true;
    });
  });

  it('answers 503 with Retry-After when the Graph API cannot be reached', async () => {
    const verify = phoneNumberVerifier(
      graphAnswering({
        ok: false,
        retryable: true,
        error: { code: 0, title: 'The Graph API could not be reached' },
      }),
      'graph',
    );
    await assert.rejects(verify('1', 'token'), (error: AppError) => {
      assert.equal(error.code, 'service.unavailable');
      assert.equal(error.headers['retry-after'], '5');
      return true;
    });
  });

  it('asks nothing when verification is off', async () => {
    const graph = graphAnswering({ ok: false, retryable: false, error: { code: 190, title: 'no' } });
    await phoneNumberVerifier(graph, 'off')('1', 'token');
  });
});
