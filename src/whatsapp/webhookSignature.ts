import { createHmac, timingSafeEqual } from 'node:crypto';

const headerPattern = /^sha256=([0-9a-f]{64})$/i;

/**
 * Meta signs the exact bytes it sends: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(body, app secret)>`.
 * Compared in constant time over equal-length buffers, so the time taken says nothing about the secret.
 */
export function validSignature(rawBody: Buffer, header: string | undefined, appSecret: string): boolean {
  const match = header === undefined ? null : headerPattern.exec(header.trim());
  if (!match?.[1]) return false;
  const given = Buffer.from(match[1], 'hex');
  const expected = createHmac('sha256', appSecret).update(rawBody).digest();
  return timingSafeEqual(given, expected);
}

/** Equal strings, compared in constant time (verify tokens). */
export function sameSecret(given: string, expected: string): boolean {
  const a = createHmac('sha256', 'compare').update(given).digest();
  const b = createHmac('sha256', 'compare').update(expected).digest();
  return timingSafeEqual(a, b);
}
