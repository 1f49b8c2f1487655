import { createHash, randomBytes } from 'node:crypto';

/**
 * The pure half of refresh tokens (storage, families, rotation and reuse detection live with the
 * identity store).
 *
 * A refresh token is 256 random bits in base64url behind a recognisable prefix: `ptr_` lets secret
 * scanners and log checks spot a leaked one, and lets the API refuse an access token pasted in its
 * place without a database round trip.
 */
export const refreshTokenPrefix = 'ptr_';

const refreshTokenPattern = /^ptr_[A-Za-z0-9_-]{43}$/;

export function newRefreshToken(): string {
  return `${refreshTokenPrefix}${randomBytes(32).toString('base64url')}`;
}

/** True when `token` has the shape newRefreshToken makes: check before looking it up. */
export function isRefreshTokenShaped(token: string): boolean {
  return refreshTokenPattern.test(token);
}

/**
 * What the database stores instead of the token: SHA-256, hex. A slow hash (argon2) protects
 * passwords because people choose guessable ones; a 256-bit random token cannot be guessed, so one
 * fast hash already makes a stolen table useless, and lookups stay an indexed equality on every refresh.
 */
export function hashRefreshToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}
