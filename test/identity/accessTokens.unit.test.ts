import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type CryptoKey, importJWK, SignJWT, UnsecuredJWT } from 'jose';
import { ConfigError, loadConfig, parseSigningKeys, type SigningJwk } from '../../src/config/config.ts';
import { AppError } from '../../src/errors/catalogue.ts';
import { createAccessTokens, generateSigningJwk } from '../../src/identity/accessTokens.ts';

const subject = { sub: 'user-1', org: 'org-1', sid: 'family-1' };
const start = Date.UTC(2026, 10, 25, 12, 0, 0);

function fixedClock(at = start) {
  const clock = { now: at, read: () => clock.now };
  return clock;
}

async function rejectsWith(promise: Promise<unknown>, code: string) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof AppError, `expected an AppError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.equal(error.status, 401);
    return true;
  });
}

/** A token signed by `jwk` with whatever header and claims a test needs. */
async function forge(jwk: SigningJwk, header: Record<string, unknown>, claims: Record<string, unknown>) {
  const key = (await importJWK(jwk, 'EdDSA')) as CryptoKey;
  return new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', ...header }).sign(key);
}

const baseClaims = () => ({
  iss: 'pytake',
  sub: 'user-1',
  org: 'org-1',
  sid: 'family-1',
  jti: 'j-1',
  iat: Math.floor(start / 1000),
  exp: Math.floor(start / 1000) + 900,
});

describe('access tokens', () => {
  const current = generateSigningJwk('2026-11');
  const old = generateSigningJwk('2026-05');

  it('signs and verifies a round trip with the expected claims and header', async () => {
    const clock = fixedClock();
    const tokens = createAccessTokens({ keys: [current], ttlSeconds: 900, clock: clock.read });
    const { token, expiresIn, claims } = await tokens.sign(subject);
    assert.equal(expiresIn, 900);
    const [header = ''] = token.split('.');
    assert.deepEqual(JSON.parse(Buffer.from(header, 'base64url').toString()), {
      alg: 'EdDSA',
      kid: '2026-11',
      typ: 'at+jwt',
    });
    const verified = await tokens.verify(token);
    assert.deepEqual(verified, claims);
    assert.equal(verified.iss, 'pytake');
    assert.equal(verified.sub, 'user-1');
    assert.equal(verified.org, 'org-1');
    assert.equal(verified.sid, 'family-1');
    assert.equal(verified.exp - verified.iat, 900);
    assert.match(verified.jti, /^[0-9a-f-]{36}$/);
    assert.notEqual((await tokens.sign(subject)).claims.jti, verified.jti);
  });

  it('expires after its lifetime', async () => {
    const clock = fixedClock();
    const tokens = createAccessTokens({ keys: [current], ttlSeconds: 900, clock: clock.read });
    const { token } = await tokens.sign(subject);
    clock.now += 899_000;
    assert.equal((await tokens.verify(token)).sub, 'user-1');
    clock.now += 1_000;
    await rejectsWith(tokens.verify(token), 'auth.token_expired');
  });

  it('refuses a tampered signature or payload', async () => {
    const tokens = createAccessTokens({ keys: [current], ttlSeconds: 900, clock: fixedClock().read });
    const { token } = await tokens.sign(subject);
    const [header, payload, signature = ''] = token.split('.');
    const flipped = `${signature.slice(0, 10)}${signature[10] === 'A' ? 'B' : 'A'}${signature.slice(11)}`;
    await rejectsWith(tokens.verify(`${header}.${payload}.${flipped}`), 'auth.token_invalid');
    const otherOrg = Buffer.from(JSON.stringify({ ...baseClaims(), org: 'org-2' })).toString('base64url');
    await rejectsWith(tokens.verify(`${header}.${otherOrg}.${signature}`), 'auth.token_invalid');
  });

  it('refuses a token signed by a key it does not hold, even under a known kid', async () => {
    const tokens = createAccessTokens({ keys: [current], ttlSeconds: 900, clock: fixedClock().read });
    const stranger = generateSigningJwk('2026-11');
    const other = createAccessTokens({ keys: [stranger], ttlSeconds: 900, clock: fixedClock().read });
    await rejectsWith(tokens.verify((await other.sign(subject)).token), 'auth.token_invalid');
    const unknownKid = await forge(
      generateSigningJwk('nobody'),
      { kid: 'nobody', typ: 'at+jwt' },
      baseClaims(),
    );
    await rejectsWith(tokens.verify(unknownKid), 'auth.token_invalid');
    const noKid = await forge(current, { typ: 'at+jwt' }, baseClaims());
    await rejectsWith(tokens.verify(noKid), 'auth.token_invalid');
  });

  it('refuses alg none and HS256 (with the public key as the HMAC secret)', async () => {
    const tokens = createAccessTokens({ keys: [current], ttlSeconds: 900, clock: fixedClock().read });
    const unsecured = new UnsecuredJWT(baseClaims()).encode();
    await rejectsWith(tokens.verify(unsecured), 'auth.token_invalid');
    const [, payload] = unsecured.split('.');
    const noneWithKid = Buffer.from(JSON.stringify({ alg: 'none', kid: '2026-11', typ: 'at+jwt' })).toString(
      'base64url',
    );
    await rejectsWith(tokens.verify(`${noneWithKid}.${payload}.`), 'auth.token_invalid');
    const hs256 = await new SignJWT(baseClaims())
      .setProtectedHeader({ alg: 'HS256', kid: '2026-11', typ: 'at+jwt' })
      .sign(Buffer.from(current.x, 'base64url'));
    await rejectsWith(tokens.verify(hs256), 'auth.token_invalid');
  });

  it('refuses another issuer, another token type, missing claims and malformed input', async () => {
    const tokens = createAccessTokens({ keys: [current], ttlSeconds: 900, clock: fixedClock().read });
    const header = { kid: '2026-11', typ: 'at+jwt' };
    await rejectsWith(
      tokens.verify(await forge(current, header, { ...baseClaims(), iss: 'evil' })),
      'auth.token_invalid',
    );
    await rejectsWith(
      tokens.verify(await forge(current, { kid: '2026-11' }, baseClaims())),
      'auth.token_invalid',
    );
    await rejectsWith(
      tokens.verify(await forge(current, { kid: '2026-11', typ: 'JWT' }, baseClaims())),
      'auth.token_invalid',
    );
    const { org: _org, ...withoutOrg } = baseClaims();
    await rejectsWith(tokens.verify(await forge(current, header, withoutOrg)), 'auth.token_invalid');
    await rejectsWith(
      tokens.verify(await forge(current, header, { ...baseClaims(), sid: 42 })),
      'auth.token_invalid',
    );
    for (const garbage of ['', 'abc', 'a.b.c', 'a.b', '...', `${'x'.repeat(5000)}.y.z`, 'ptr_abcdef']) {
      await rejectsWith(tokens.verify(garbage), 'auth.token_invalid');
    }
  });

  it('rotates: the first key signs, a token from the old key still verifies while it is listed', async () => {
    const clock = fixedClock();
    const before = createAccessTokens({ keys: [old], ttlSeconds: 900, clock: clock.read });
    const oldToken = (await before.sign(subject)).token;
    const after = createAccessTokens({ keys: [current, old], ttlSeconds: 900, clock: clock.read });
    assert.equal((await after.verify(oldToken)).sub, 'user-1');
    const newToken = (await after.sign(subject)).token;
    assert.equal(
      JSON.parse(Buffer.from(newToken.split('.')[0] ?? '', 'base64url').toString()).kid,
      '2026-11',
    );
    // Once the old key is dropped, its tokens stop verifying.
    const later = createAccessTokens({ keys: [current], ttlSeconds: 900, clock: clock.read });
    await rejectsWith(later.verify(oldToken), 'auth.token_invalid');
    assert.equal((await later.verify(newToken)).sub, 'user-1');
  });
});

describe('JWT_SIGNING_KEYS', () => {
  const key = generateSigningJwk('k1');

  it('parses a JSON array of Ed25519 private JWKs', () => {
    const keys = parseSigningKeys(JSON.stringify([key, generateSigningJwk('k0')]));
    assert.deepEqual(
      keys.map((entry) => entry.kid),
      ['k1', 'k0'],
    );
    const config = loadConfig({ JWT_SIGNING_KEYS: JSON.stringify([{ ...key, alg: 'EdDSA', use: 'sig' }]) });
    assert.deepEqual(config.JWT_SIGNING_KEYS, [key]);
    assert.equal(config.ACCESS_TOKEN_TTL_SECONDS, 900);
    assert.equal(loadConfig({ ACCESS_TOKEN_TTL_SECONDS: '300' }).ACCESS_TOKEN_TTL_SECONDS, 300);
  });

  for (const [what, value, reason] of [
    ['invalid JSON', `[${JSON.stringify(key)}`, /not valid JSON/],
    ['an object instead of an array', JSON.stringify(key), /JSON array/],
    ['an empty array', '[]', /non-empty/],
    [
      'another key type',
      JSON.stringify([{ ...key, crv: 'X25519' }]),
      /key 0: expected kty "OKP" and crv "Ed25519"/,
    ],
    ['no kid', JSON.stringify([{ ...key, kid: undefined }]), /key 0: expected a kid/],
    ['a kid with spaces', JSON.stringify([{ ...key, kid: 'a b' }]), /key 0: expected a kid/],
    ['a repeated kid', JSON.stringify([key, generateSigningJwk('k1')]), /key 1: kid "k1" is used twice/],
    [
      'a public key only',
      JSON.stringify([{ ...key, d: undefined }]),
      /key 0 \(k1\): expected the private key/,
    ],
    [
      'a mangled private key',
      JSON.stringify([{ ...key, d: 'abc' }]),
      /key 0 \(k1\): not a valid Ed25519 private key/,
    ],
    [
      'x of another key',
      JSON.stringify([{ ...key, x: generateSigningJwk('o').x }]),
      /"x" is not the public key of "d"/,
    ],
  ] as const) {
    it(`stops start-up on ${what}, without quoting the secret`, () => {
      assert.throws(
        () => loadConfig({ JWT_SIGNING_KEYS: value }),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError);
          assert.match(error.message, /^JWT_SIGNING_KEYS: /);
          assert.match(error.message, reason);
          assert.ok(!error.message.includes(key.d), 'the private key is not in the message');
          return true;
        },
      );
    });
  }

  it('is required in production, with ENCRYPTION_KEYS, unless development fallbacks are allowed', () => {
    const production = { NODE_ENV: 'production', DATABASE_URL: 'postgres://db/p' };
    const signing = JSON.stringify([key]);
    const encryption = `k1:${Buffer.alloc(32, 7).toString('base64url')}`;
    assert.throws(() => loadConfig(production), /JWT_SIGNING_KEYS: required when NODE_ENV=production/);
    assert.throws(
      () => loadConfig({ ...production, JWT_SIGNING_KEYS: signing }),
      /ENCRYPTION_KEYS: required when NODE_ENV=production/,
    );
    const config = loadConfig({ ...production, JWT_SIGNING_KEYS: signing, ENCRYPTION_KEYS: encryption });
    assert.equal(config.JWT_SIGNING_KEYS?.[0]?.kid, 'k1');
    assert.equal(loadConfig({ ...production, ALLOW_DEV_FALLBACKS: 'true' }).JWT_SIGNING_KEYS, undefined);
  });
});
