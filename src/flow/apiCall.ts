import { lookup as dnsLookup } from 'node:dns';
import { type ClientRequest, request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { unescape as percentDecode } from 'node:querystring';
import { privateAddressReason } from './privateAddress.ts';

export type ApiMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
export type ApiRequest = {
  method: ApiMethod;
  url: string;
  headers: Record<string, string>;
  body: string | null;
  timeoutMs: number;
};
/** A 2xx answer, or why there is none: the server's status and body, or a refusal or failure (status null). */
export type ApiOutcome =
  | { ok: true; status: number; body: unknown }
  | { ok: false; status: number | null; error: string; body?: unknown };
export type ApiCallPolicy = {
  /** `host:port` pairs (lower-case host, explicit port) that may be private/loopback, e.g. '127.0.0.1:8080'. */
  allowedHosts: ReadonlySet<string>;
  maxResponseBytes: number;
  /** A request's timeoutMs is clamped to this. */
  maxTimeoutMs: number;
};

type Settle = (outcome: ApiOutcome) => void;

const failed = (error: string): ApiOutcome => ({ ok: false, status: null, error });

// Hop-by-hop headers, and those the client computes itself, are not the flow author's to set.
const droppedHeaders = new Set([
  'connection',
  'content-length',
  'expect',
  'host',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);
const headerName = /^[!#$%&'*+.^_`|~0-9a-z-]+$/i;

/** Reads FLOW_API_ALLOWED_HOSTS: comma-separated `host:port`, e.g. `127.0.0.1:8080,[::1]:9000,crm.internal:443`. */
export function parseAllowedHosts(value: string): Set<string> {
  const hosts = new Set<string>();
  for (const entry of value.split(',').map((part) => part.trim())) {
    if (entry === '') continue;
    const match = /^(\[[0-9a-f:.]+\]|[^\s/?#@:[\]]+):(\d{1,5})$/i.exec(entry);
    const port = Number(match?.[2]);
    const hostname = match && port >= 1 && port <= 65535 ? canonicalHostname(match[1] ?? '') : undefined;
    if (!hostname) throw new Error(`FLOW_API_ALLOWED_HOSTS: expected host:port, got '${entry}'`);
    hosts.add(`${hostname}:${port}`);
  }
  return hosts;
}

function canonicalHostname(host: string): string | undefined {
  try {
    return new URL(`http://${host}/`).hostname;
  } catch {
    return undefined;
  }
}

/** Performs a flow's HTTP request without letting it reach private addresses, hang, or fill memory; never throws. */
export function performApiCall(request: ApiRequest, policy: ApiCallPolicy): Promise<ApiOutcome> {
  let url: URL;
  try {
    url = new URL(request.url);
  } catch {
    return Promise.resolve(failed('invalid URL'));
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return Promise.resolve(failed('only http and https'));
  }
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  const anyAddress = policy.allowedHosts.has(`${url.hostname}:${port}`);
  const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
  // Node skips `lookup` for IP literals, so they are checked here.
  const literalReason = isIP(hostname) && !anyAddress ? privateAddressReason(hostname) : undefined;
  if (literalReason) return Promise.resolve(failed(`refused: ${hostname} is ${literalReason}`));
  const headers = outgoingHeaders(request);
  if (typeof headers === 'string') return Promise.resolve(failed(headers));
  const requested =
    Number.isFinite(request.timeoutMs) && request.timeoutMs > 0 ? request.timeoutMs : Infinity;
  const timeoutMs = Math.min(requested, policy.maxTimeoutMs);

  return new Promise((resolve) => {
    let clientRequest: ClientRequest | undefined;
    let settled = false;
    const settle: Settle = (outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      clientRequest?.destroy();
      resolve(outcome);
    };
    const deadline = setTimeout(() => settle(failed(`timed out after ${timeoutMs} ms`)), timeoutMs);
    try {
      clientRequest = (url.protocol === 'https:' ? httpsRequest : httpRequest)(
        {
          method: request.method,
          hostname,
          port,
          path: `${url.pathname}${url.search}`,
          auth: url.username ? `${percentDecode(url.username)}:${percentDecode(url.password)}` : undefined,
          headers,
          // A fresh connection per call: no socket shared with the platform's own requests.
          agent: false,
          lookup: anyAddress ? undefined : publicOnlyLookup,
        },
        (response) => readResponse(response, policy.maxResponseBytes, settle),
      );
      clientRequest.on('error', (error) => settle(failed(describe(error))));
      clientRequest.end(request.body ?? undefined);
    } catch (error) {
      settle(failed(describe(error)));
    }
  });
}

function outgoingHeaders(request: ApiRequest): Record<string, string> | string {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (!headerName.test(name)) return `refused: invalid header name '${name}'`;
    if (/[\r\n\0]/.test(value)) return `refused: header '${name}' contains CR, LF or NUL`;
    if (!droppedHeaders.has(name.toLowerCase())) headers[name.toLowerCase()] = value;
  }
  headers['user-agent'] ??= 'PyTake-Flow/1';
  if (request.body !== null) headers['content-type'] ??= 'application/json';
  return headers;
}

/** Resolves as dns.lookup does, but fails when any address is private, so the socket only connects to checked addresses. */
const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { family: options.family, hints: options.hints, all: true }, (error, addresses) => {
    if (error) return callback(error, []);
    const first = addresses[0];
    if (!first)
      return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), []);
    for (const { address } of addresses) {
      const reason = privateAddressReason(address);
      if (reason) return callback(new Error(`refused: ${address} (${hostname}) is ${reason}`), []);
    }
    if (options.all) callback(null, addresses);
    else callback(null, first.address, first.family);
  });
};

function readResponse(response: IncomingMessage, maxBytes: number, settle: Settle): void {
  const tooLarge = failed(`response larger than ${maxBytes} bytes`);
  if (Number(response.headers['content-length']) > maxBytes) {
    settle(tooLarge);
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  response.on('data', (chunk: Buffer) => {
    size += chunk.length;
    // Settling destroys the request and with it the socket, so nothing more is read.
    if (size > maxBytes) settle(tooLarge);
    else chunks.push(chunk);
  });
  response.on('end', () => {
    const status = response.statusCode ?? 0;
    const body = parseBody(Buffer.concat(chunks).toString('utf8'));
    settle(
      status >= 200 && status < 300
        ? { ok: true, status, body }
        : { ok: false, status, error: `HTTP ${status}`, body },
    );
  });
  response.on('error', (error) => settle(failed(describe(error))));
  response.on('close', () => settle(failed('connection closed before the response ended')));
}

function parseBody(text: string): unknown {
  if (text === '') return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function describe(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0)
    return error.errors.map(describe).join('; ');
  if (error instanceof Error)
    return error.message || String((error as NodeJS.ErrnoException).code ?? error.name);
  return String(error);
}
