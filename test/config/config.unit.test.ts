import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/config.ts';
import { generateSigningJwk } from '../../src/identity/accessTokens.ts';

describe('loadConfig', () => {
  it('gives every variable its default on an empty environment', () => {
    const config = loadConfig({});
    assert.equal(config.PORT, 3000);
    assert.equal(config.DATA_DIR, './data');
    assert.equal(config.DATABASE_URL, undefined);
    assert.equal(config.HTTP_BODY_LIMIT_BYTES, 1024 * 1024);
    assert.equal(config.NODE_ENV, 'development');
  });

  it('parses the values it is given', () => {
    const config = loadConfig({
      PORT: '8080',
      DATABASE_URL: 'postgres://u@db:5432/p',
      ALLOW_DEV_FALLBACKS: 'true',
    });
    assert.equal(config.PORT, 8080);
    assert.equal(config.DATABASE_URL, 'postgres://u@db:5432/p');
    assert.equal(config.ALLOW_DEV_FALLBACKS, true);
  });

  for (const [name, value, expected] of [
    ['PORT', 'eighty', /^PORT: expected an integer between 0 and 65535$/],
    ['PORT', '70000', /^PORT: expected an integer/],
    ['NODE_ENV', 'prod', /^NODE_ENV: expected one of development, test, production$/],
    ['DATABASE_URL', 'mysql://x', /^DATABASE_URL: expected a URL with scheme postgres or postgresql$/],
    ['DATABASE_URL', 'not a url', /^DATABASE_URL: expected a URL/],
    ['EVENTSTORE_URL', 'http://es:2113', /^EVENTSTORE_URL: expected a URL with scheme esdb/],
    ['ALLOW_DEV_FALLBACKS', 'yes', /^ALLOW_DEV_FALLBACKS: expected true or false$/],
  ] as const) {
    it(`stops on ${name}=${value} with one line naming the variable`, () => {
      assert.throws(
        () => loadConfig({ [name]: value }),
        (error: unknown) => error instanceof ConfigError && expected.test(error.message),
      );
    });
  }

  it('refuses development fallbacks in production unless allowed', () => {
    assert.throws(
      () => loadConfig({ NODE_ENV: 'production' }),
      /DATABASE_URL: required when NODE_ENV=production/,
    );
    assert.equal(loadConfig({ NODE_ENV: 'production', ALLOW_DEV_FALLBACKS: 'true' }).DATABASE_URL, undefined);
    const keys = {
      JWT_SIGNING_KEYS: JSON.stringify([generateSigningJwk('k1')]),
      ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 1).toString('base64url')}`,
    };
    assert.equal(
      loadConfig({ NODE_ENV: 'production', DATABASE_URL: 'postgres://db/p', ...keys }).DATABASE_URL,
      'postgres://db/p',
    );
  });
});
