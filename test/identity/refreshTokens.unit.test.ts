import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { hashRefreshToken, isRefreshTokenShaped, newRefreshToken } from '../../src/identity/refreshTokens.ts';

describe('refresh tokens', () => {
  it('are 256 random bits in base64url behind the ptr_ prefix, never repeated', () => {
    const tokens = new Set(Array.from({ length: 1000 }, () => newRefreshToken()));
    assert.equal(tokens.size, 1000);
    for (const token of tokens) {
      assert.match(token, /^ptr_[A-Za-z0-9_-]{43}$/);
      assert.equal(Buffer.from(token.slice(4), 'base64url').length, 32);
      assert.equal(isRefreshTokenShaped(token), true);
    }
  });

  it('recognises what is not one', () => {
    for (const other of [
      '',
      'ptr_',
      'ptr_short',
      `xyz_${'a'.repeat(43)}`,
      `ptr_${'a'.repeat(42)}!`,
      'eyJhbGciOiJFZERTQSJ9.e30.sig',
    ]) {
      assert.equal(isRefreshTokenShaped(other), false, other);
    }
  });

  it('hash to SHA-256 hex, the same every time', () => {
    const token = newRefreshToken();
    assert.equal(hashRefreshToken(token), createHash('sha256').update(token).digest('hex'));
    assert.match(hashRefreshToken(token), /^[0-9a-f]{64}$/);
    assert.equal(hashRefreshToken(token), hashRefreshToken(token));
    assert.notEqual(hashRefreshToken(token), hashRefreshToken(newRefreshToken()));
  });
});
