import { createHash } from 'node:crypto';

/** PyTake's UUIDv5 namespace (itself a random UUID, fixed forever). */
const namespace = Buffer.from('5f0a1c3e9b8d4e7fa2c64d1b7e3a9c05', 'hex');

/**
 * UUIDv5 (RFC 9562) of `name`: the same name always gives the same id, so an event or stream
 * derived from an external id (a Meta message id, an email) is recognised when it comes again.
 */
export function deterministicId(name: string): string {
  const hash = createHash('sha1').update(namespace).update(name, 'utf8').digest();
  hash[6] = ((hash[6] ?? 0) & 0x0f) | 0x50;
  hash[8] = ((hash[8] ?? 0) & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
