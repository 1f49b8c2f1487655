import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { type CryptoKey, errors, importJWK, type JWTHeaderParameters, jwtVerify, SignJWT } from 'jose';
import { type Config, parseSigningKeys, type SigningJwk } from '../config/config.ts';
import { AppError } from '../errors/catalogue.ts';
import type { Logger } from '../log/logger.ts';
import { devKeyFile } from './devKeyFile.ts';

/**
 * Access tokens: short-lived JWTs signed with Ed25519 (JWS alg EdDSA). Asymmetric, so a future service
 * that only checks tokens holds public keys and cannot mint them; Ed25519 verifies in tens of
 * microseconds, which matters because every request verifies one. Each token names its key (`kid`),
 * so keys rotate: the first key signs, every listed key verifies.
 *
 * A token is deliberately stateless for its 15 minutes; whatever must take effect sooner (deleting or
 * demoting a user, logout) is checked by the caller against the read model using `sub` and `sid`.
 */

export const accessTokenIssuer = 'pytake';
/** RFC 9068's media type for JWT access tokens: a JWT minted for another purpose is never accepted. */
const accessTokenType = 'at+jwt';
const algorithm = 'EdDSA';

/** Who a token speaks for: user, organization, and the refresh-token family (session) it came from. */
export type AccessTokenSubject = { sub: string; org: string; sid: string };
/** A verified token's claims. `iat` and `exp` are seconds since the epoch. */
export type AccessTokenClaims = AccessTokenSubject & { iss: string; jti: string; iat: number; exp: number };

export type AccessTokens = {
  sign(subject: AccessTokenSubject): Promise<{ token: string; expiresIn: number; claims: AccessTokenClaims }>;
  /** Resolves the claims, or throws AppError `auth.token_expired` / `auth.token_invalid`. */
  verify(token: string): Promise<AccessTokenClaims>;
};

export function createAccessTokens(options: {
  /** Newest first: the first signs, all verify. */
  keys: readonly SigningJwk[];
  ttlSeconds: number;
  /** Milliseconds since the epoch; tests move it. */
  clock?: () => number;
}): AccessTokens {
  const { ttlSeconds, clock = Date.now } = options;
  const signingJwk = options.keys[0];
  if (signingJwk === undefined) throw new Error('createAccessTokens: at least one signing key is required');

  // Keys are imported into WebCrypto once, on first use, and the CryptoKey kept per kid: verification
  // then costs one signature check, never a key import.
  const publicKeys = new Map<string, Promise<CryptoKey>>();
  const jwks = new Map(options.keys.map((jwk) => [jwk.kid, jwk]));
  let signingKey: Promise<CryptoKey> | undefined;

  const publicKey = (kid: string): Promise<CryptoKey> | undefined => {
    const jwk = jwks.get(kid);
    if (jwk === undefined) return undefined;
    let key = publicKeys.get(kid);
    if (key === undefined) {
      key = importJWK({ kty: jwk.kty, crv: jwk.crv, x: jwk.x }, algorithm) as Promise<CryptoKey>;
      publicKeys.set(kid, key);
    }
    return key;
  };

  // jose calls this after parsing the header and before checking the signature: an unknown kid is
  // refused here, and `algorithms` below refuses any alg but EdDSA ("none", HS256 with the public key…).
  const keyFor = async (header: JWTHeaderParameters): Promise<CryptoKey> => {
    const key = typeof header.kid === 'string' ? publicKey(header.kid) : undefined;
    if (key === undefined) throw new AppError('auth.token_invalid', 'Access token signed by an unknown key');
    return key;
  };

  return {
    async sign(subject) {
      signingKey ??= importJWK(signingJwk, algorithm) as Promise<CryptoKey>;
      const iat = Math.floor(clock() / 1000);
      const claims: AccessTokenClaims = {
        iss: accessTokenIssuer,
        sub: subject.sub,
        org: subject.org,
        sid: subject.sid,
        jti: randomUUID(),
        iat,
        exp: iat + ttlSeconds,
      };
      const token = await new SignJWT({ org: claims.org, sid: claims.sid })
        .setProtectedHeader({ alg: algorithm, kid: signingJwk.kid, typ: accessTokenType })
        .setIssuer(claims.iss)
        .setSubject(claims.sub)
        .setJti(claims.jti)
        .setIssuedAt(claims.iat)
        .setExpirationTime(claims.exp)
        .sign(await signingKey);
      return { token, expiresIn: ttlSeconds, claims };
    },

    async verify(token) {
      let payload: Record<string, unknown>;
      try {
        ({ payload } = await jwtVerify(token, keyFor, {
          algorithms: [algorithm],
          issuer: accessTokenIssuer,
          typ: accessTokenType,
          requiredClaims: ['sub', 'jti', 'iat', 'exp'],
          currentDate: new Date(clock()),
        }));
      } catch (error) {
        if (error instanceof AppError) throw error;
        if (error instanceof errors.JWTExpired) throw new AppError('auth.token_expired');
        if (error instanceof errors.JOSEError) throw new AppError('auth.token_invalid');
        throw error;
      }
      const { iss, sub, org, sid, jti, iat, exp } = payload;
      if (
        typeof iss !== 'string' ||
        typeof sub !== 'string' ||
        typeof org !== 'string' ||
        typeof sid !== 'string' ||
        typeof jti !== 'string' ||
        typeof iat !== 'number' ||
        typeof exp !== 'number'
      ) {
        throw new AppError('auth.token_invalid', 'Access token lacks a claim');
      }
      return { iss, sub, org, sid, jti, iat, exp };
    },
  };
}

const signingKeyFile = 'jwt-signing-keys.json';

/**
 * JWT_SIGNING_KEYS when set (validated by loadConfig). Otherwise, outside production, the key in
 * `${DATA_DIR}/jwt-signing-keys.json` (the same JSON array format), generated with mode 0600 on the
 * first start. Never logs a key.
 */
export function loadSigningKeys(
  config: Pick<Config, 'JWT_SIGNING_KEYS' | 'NODE_ENV' | 'ALLOW_DEV_FALLBACKS' | 'DATA_DIR'>,
  logger: Logger,
): readonly SigningJwk[] {
  if (config.JWT_SIGNING_KEYS !== undefined) return config.JWT_SIGNING_KEYS;
  return devKeyFile(config, logger, {
    variable: 'JWT_SIGNING_KEYS',
    fileName: signingKeyFile,
    generate: () => `${JSON.stringify([generateSigningJwk(`dev-${randomUUID().slice(0, 8)}`)], null, 2)}\n`,
    parse: parseSigningKeys,
  });
}

/** A fresh Ed25519 private JWK, the shape JWT_SIGNING_KEYS holds. */
export function generateSigningJwk(kid: string): SigningJwk {
  const { privateKey } = generateKeyPairSync('ed25519');
  const { x, d } = privateKey.export({ format: 'jwk' });
  if (x === undefined || d === undefined) throw new Error('Ed25519 key export lacks x or d');
  return { kty: 'OKP', crv: 'Ed25519', kid, x, d };
}
