import type { HttpResult } from './route.ts';

export type EncodedResponse = {
  status: number;
  headers: Record<string, string>;
  payload: string | Buffer | undefined;
};

// Written by the server itself; a handler's value would be wrong or would desynchronise the connection.
const reservedHeaders = new Set(['content-length', 'transfer-encoding', 'connection', 'date']);

/**
 * Turns a handler's result into bytes and headers. Throws on anything that cannot be sent faithfully,
 * before a single byte is written, so the caller can still answer 500 instead.
 */
export function encodeResult(result: HttpResult): EncodedResponse {
  const { status, body } = result;
  if (!Number.isInteger(status) || status < 200 || status > 599) {
    throw new Error(`handler returned status ${String(status)}`);
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(result.headers ?? {})) {
    const lower = name.toLowerCase();
    if (reservedHeaders.has(lower)) continue;
    if (/[\r\n]/.test(value) || !/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(lower)) {
      throw new Error(`handler returned an unsafe header ${JSON.stringify(name)}`);
    }
    headers[lower] = value;
  }
  let payload: string | Buffer | undefined;
  let defaultType: string | undefined;
  if (body === undefined || body === null) {
    payload = undefined;
  } else if (typeof body === 'string') {
    payload = body;
    defaultType = 'text/plain; charset=utf-8';
  } else if (Buffer.isBuffer(body)) {
    payload = body;
    defaultType = 'application/octet-stream';
  } else {
    payload = JSON.stringify(body);
    defaultType = 'application/json';
  }
  if (defaultType !== undefined) headers['content-type'] ??= defaultType;
  return { status, headers, payload };
}
