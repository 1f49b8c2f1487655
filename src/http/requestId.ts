import { randomUUID } from 'node:crypto';

// Bounded and free of anything that could break a header or a log line.
const wellFormed = /^[A-Za-z0-9._:-]{1,128}$/;

/** Keeps a caller's `x-request-id` (a proxy's trace id) when it is safe to echo, else makes one. */
export function requestIdFrom(header: string | undefined): string {
  return header !== undefined && wellFormed.test(header) ? header : randomUUID();
}
