import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export type FakeGraphRequest = {
  version: string;
  phoneNumberId: string;
  authorization: string | undefined;
  /** The parsed JSON body, or the raw text when it was not JSON; `bodyOf` reads it as an object. */
  body: unknown;
  receivedAt: number;
};

export type FakeGraphFailure = { status: number; code: number; title?: string; retryAfterSeconds?: number };

export type FakeGraphApi = {
  /** e.g. http://127.0.0.1:PORT, no trailing slash. */
  url: string;
  /** Every request to `POST /{version}/{phone-number-id}/messages`, in arrival order. */
  requests: FakeGraphRequest[];
  /** Those answered with success, with when the answer was sent. */
  accepted: { waMessageId: string; request: FakeGraphRequest; answeredAt: number }[];
  /** Only this token is accepted for that number; numbers with none registered accept any non-empty one. */
  expectToken(phoneNumberId: string, token: string): void;
  /** The next `count` requests get this Graph error, whatever their body. */
  failNext(count: number, failure: FakeGraphFailure): void;
  /** The next `count` requests are answered `ms` later. */
  delayNext(count: number, ms: number): void;
  /** Requests wait until release() (to test crashes and ordering). */
  hold(): void;
  release(): void;
  /** Resolves once `count` requests have been received (no fixed sleeps in tests). */
  waitForRequests(count: number, timeoutMs?: number): Promise<void>;
  /** Closes the TCP connection without answering (network failure). */
  dropNext(count: number): void;
  close(): Promise<void>;
};

/** The request body as an object (empty when it is not one), for reading fields in assertions. */
export function bodyOf(request: FakeGraphRequest): Record<string, unknown> {
  const { body } = request;
  return typeof body === 'object' && body !== null && !Array.isArray(body)
    ? (body as Record<string, unknown>)
    : {};
}

const messageTypes = new Set([
  'text',
  'image',
  'audio',
  'video',
  'document',
  'sticker',
  'location',
  'contacts',
  'interactive',
  'template',
  'reaction',
]);

/** Titles Meta gives these codes, used when a test does not name one. */
const knownTitles: Record<number, string> = {
  4: 'Application request limit reached',
  100: 'Invalid parameter',
  190: 'Invalid OAuth access token',
  80007: 'Rate limit issues',
  130429: 'Rate limit hit',
  131000: 'Something went wrong',
  131016: 'Service unavailable',
  131026: 'Message undeliverable',
  131047: 'Re-engagement message',
  131048: 'Spam rate limit hit',
  131056: '(Business Account, Consumer Account) pair rate limit hit',
  132001: 'Template name does not exist in the translation',
};

const messagesPath = /^\/([^/]+)\/([^/]+)\/messages\/?$/;
const phoneNumberPath = /^\/([^/]+)\/([^/]+)\/?$/;

/** A local stand-in for Meta's Graph API messages endpoint, on 127.0.0.1 and a free port. */
export async function startFakeGraphApi(): Promise<FakeGraphApi> {
  const requests: FakeGraphRequest[] = [];
  const accepted: FakeGraphApi['accepted'] = [];
  const tokens = new Map<string, string>();
  const failures: FakeGraphFailure[] = [];
  const delays: number[] = [];
  let drops = 0;
  let held: PromiseWithResolversLike | undefined;
  const received = new EventEmitter();
  // Aborted on close, so that held and delayed requests stop waiting.
  const closing = new AbortController();

  /** `GET /{version}/{phone-number-id}`: the number, for a token allowed to read it. */
  function answerPhoneNumber(req: IncomingMessage, res: ServerResponse, phoneNumberId: string): void {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1]?.trim();
    const expected = tokens.get(phoneNumberId);
    if (!token || (expected !== undefined && token !== expected)) {
      answerError(res, 401, 190, 'Error validating access token: the token is not valid');
      return;
    }
    answer(res, 200, {
      id: phoneNumberId,
      display_phone_number: '+1 555-0100',
      verified_name: 'Test Business',
    });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const text = await readBody(req);
    const phoneNumber = phoneNumberPath.exec(new URL(req.url ?? '/', 'http://fake').pathname);
    if (req.method === 'GET' && phoneNumber)
      return answerPhoneNumber(req, res, decodeURIComponent(phoneNumber[2] ?? ''));
    const match = messagesPath.exec(new URL(req.url ?? '/', 'http://fake').pathname);
    if (req.method !== 'POST' || !match) {
      return answerError(res, 400, 100, 'Unsupported request', `Unsupported ${req.method} ${req.url}`);
    }
    const request: FakeGraphRequest = {
      version: decodeURIComponent(match[1] ?? ''),
      phoneNumberId: decodeURIComponent(match[2] ?? ''),
      authorization: req.headers.authorization,
      body: parseJson(text) ?? text,
      receivedAt: Date.now(),
    };
    requests.push(request);
    received.emit('request');

    // Each directive is taken on arrival, so it applies to the requests in the order they came.
    const delay = delays.shift();
    const drop = drops > 0;
    if (drop) drops--;
    const failure = drop ? undefined : failures.shift();

    // Stop waiting if the client goes away (a timeout) or the fake closes.
    const gone = AbortSignal.any([closing.signal, abortedOnClose(res)]);
    if (held) await untilAborted(held.promise, gone);
    if (delay !== undefined) await sleep(delay, undefined, { signal: gone }).catch(() => {});
    if (gone.aborted) return;

    if (drop) {
      req.socket.destroy();
      return;
    }
    if (failure) {
      const title = failure.title ?? knownTitles[failure.code] ?? 'Error';
      const headers: Record<string, string> =
        failure.retryAfterSeconds === undefined ? {} : { 'retry-after': String(failure.retryAfterSeconds) };
      return answerError(res, failure.status, failure.code, title, title, headers);
    }

    const token = /^Bearer (.+)$/.exec(request.authorization ?? '')?.[1]?.trim();
    if (!token) {
      return answerError(res, 401, 190, 'Invalid OAuth access token - Cannot parse access token');
    }
    const expected = tokens.get(request.phoneNumberId);
    if (expected !== undefined && token !== expected) {
      return answerError(res, 401, 190, 'Error validating access token: the token is not valid');
    }

    const invalid = invalidBody(request.body);
    if (invalid) return answerError(res, 400, 100, 'Invalid parameter', invalid);

    const to = String(bodyOf(request).to);
    const waMessageId = `wamid.${Buffer.from(randomUUID()).toString('base64url')}`;
    accepted.push({ waMessageId, request, answeredAt: Date.now() });
    answer(res, 200, {
      messaging_product: 'whatsapp',
      contacts: [{ input: to, wa_id: to }],
      messages: [{ id: waMessageId }],
    });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) answerError(res, 500, 1, 'An unknown error occurred');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    accepted,
    expectToken: (phoneNumberId, token) => void tokens.set(phoneNumberId, token),
    failNext: (count, failure) => failures.push(...Array.from({ length: count }, () => failure)),
    delayNext: (count, ms) => delays.push(...Array.from({ length: count }, () => ms)),
    dropNext: (count) => {
      drops += count;
    },
    hold: () => {
      held ??= withResolvers();
    },
    release: () => {
      held?.resolve();
      held = undefined;
    },
    waitForRequests: (count, timeoutMs = 5_000) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (requests.length < count) return;
          cleanup();
          resolve();
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`fake Graph API got ${requests.length} of ${count} requests in ${timeoutMs} ms`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          received.off('request', check);
        };
        received.on('request', check);
        check();
      }),
    close: async () => {
      closing.abort();
      held?.resolve();
      const closed = new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      );
      server.closeAllConnections();
      await closed;
    },
  };
}

/** Why Meta would answer 400 to this body, or undefined when it would accept it. */
function invalidBody(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return 'The request body is not a JSON object';
  const fields = body as Record<string, unknown>;
  if (fields.messaging_product !== 'whatsapp') return 'messaging_product must be "whatsapp"';
  if (typeof fields.to !== 'string' || fields.to === '') return 'The parameter to is required.';
  const type = fields.type;
  if (typeof type !== 'string' || !messageTypes.has(type)) return `Unsupported message type ${String(type)}`;
  const typeObject = fields[type];
  if (typeof typeObject !== 'object' || typeObject === null || Array.isArray(typeObject)) {
    return `The parameter ${type} is required.`;
  }
  return undefined;
}

function answerError(
  res: ServerResponse,
  status: number,
  code: number,
  title: string,
  details = title,
  headers: Record<string, string> = {},
): void {
  answer(
    res,
    status,
    {
      error: {
        message: `(#${code}) ${title}`,
        type: 'OAuthException',
        code,
        error_data: { messaging_product: 'whatsapp', details },
        fbtrace_id: randomUUID().replaceAll('-', '').slice(0, 16),
      },
    },
    headers,
  );
}

function answer(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Aborts when the response closes before it was sent: the client hung up. */
function abortedOnClose(res: ServerResponse): AbortSignal {
  const controller = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  return controller.signal;
}

function untilAborted(promise: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    signal.addEventListener('abort', () => resolve(), { once: true });
    promise.then(resolve);
  });
}

type PromiseWithResolversLike = { promise: Promise<void>; resolve: () => void };

// Promise.withResolvers arrives in Node 22; the project also runs on 20.
function withResolvers(): PromiseWithResolversLike {
  let resolve = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
