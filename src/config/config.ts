import { createPrivateKey, createPublicKey } from 'node:crypto';
import { parseAllowedHosts } from '../flow/apiCall.ts';

/**
 * The one place that reads the environment. Every variable the server understands is declared in
 * `variables` with its default and its parser; a wrong value stops start-up with one line naming it.
 * The README's configuration table and compose.yml are checked against this list by a test.
 */

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Parser<T> = (raw: string) => T;

const integer =
  (min: number, max: number): Parser<number> =>
  (raw) => {
    if (!/^-?\d+$/.test(raw)) throw new ConfigError(`expected an integer between ${min} and ${max}`);
    const value = Number(raw);
    if (value < min || value > max) throw new ConfigError(`expected an integer between ${min} and ${max}`);
    return value;
  };

const oneOf =
  <T extends string>(...values: T[]): Parser<T> =>
  (raw) => {
    if (!(values as string[]).includes(raw)) throw new ConfigError(`expected one of ${values.join(', ')}`);
    return raw as T;
  };

const boolean: Parser<boolean> = (raw) => {
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new ConfigError('expected true or false');
};

const url =
  (...protocols: string[]): Parser<string> =>
  (raw) => {
    let parsed: URL;
    try {
      parsed = new URL(raw);
    } catch {
      throw new ConfigError(`expected a URL (${protocols.join(' or ')})`);
    }
    if (!protocols.includes(parsed.protocol.replace(/:$/, ''))) {
      throw new ConfigError(`expected a URL with scheme ${protocols.join(' or ')}`);
    }
    return raw;
  };

const text: Parser<string> = (raw) => {
  if (raw.trim() === '') throw new ConfigError('expected a non-empty value');
  return raw;
};

/** Key ids travel in token and ciphertext headers: keep them short and plain. */
const keyIdPattern = /^[A-Za-z0-9._-]{1,64}$/;

/** An Ed25519 private key as a JSON Web Key (RFC 8037), with the key id that tokens name. */
export type SigningJwk = {
  readonly kty: 'OKP';
  readonly crv: 'Ed25519';
  readonly kid: string;
  readonly x: string;
  readonly d: string;
};

/**
 * JWT_SIGNING_KEYS: a JSON array of Ed25519 private JWKs, each with a `kid`, newest first:
 * `[{"kty":"OKP","crv":"Ed25519","kid":"2026-11","x":"…","d":"…"}, …]`. The first signs; all verify,
 * so a rotation prepends a new key and drops the old one once its tokens have expired.
 * Messages never quote the value: it is a secret.
 */
export function parseSigningKeys(raw: string): readonly SigningJwk[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ConfigError('expected a JSON array of Ed25519 private JWKs (the value is not valid JSON)');
  }
  if (!Array.isArray(parsed) || parsed.length === 0) {
    throw new ConfigError('expected a non-empty JSON array of Ed25519 private JWKs');
  }
  const kids = new Set<string>();
  return parsed.map((entry: unknown, index) => {
    const where = `key ${index}`;
    if (typeof entry !== 'object' || entry === null) throw new ConfigError(`${where}: expected a JWK object`);
    const { kty, crv, kid, x, d } = entry as Record<string, unknown>;
    if (kty !== 'OKP' || crv !== 'Ed25519')
      throw new ConfigError(`${where}: expected kty "OKP" and crv "Ed25519"`);
    if (typeof kid !== 'string' || !keyIdPattern.test(kid)) {
      throw new ConfigError(`${where}: expected a kid of 1 to 64 letters, digits, ".", "_" or "-"`);
    }
    if (kids.has(kid)) throw new ConfigError(`${where}: kid "${kid}" is used twice`);
    kids.add(kid);
    if (typeof d !== 'string' || typeof x !== 'string') {
      throw new ConfigError(`${where} (${kid}): expected the private key "d" and public key "x"`);
    }
    // Node derives the public key from d and ignores x: check they belong together, so a key pasted
    // from the wrong place fails here rather than as tokens no other node can verify.
    let derivedX: unknown;
    try {
      const privateKey = createPrivateKey({ key: { kty, crv, x, d }, format: 'jwk' });
      derivedX = createPublicKey(privateKey).export({ format: 'jwk' }).x;
    } catch {
      throw new ConfigError(`${where} (${kid}): not a valid Ed25519 private key`);
    }
    if (derivedX !== x) throw new ConfigError(`${where} (${kid}): "x" is not the public key of "d"`);
    return Object.freeze({ kty, crv, kid, x, d });
  });
}

/** A 256-bit AES key and the id stored beside every ciphertext it seals. */
export type EncryptionKey = { readonly kid: string; readonly key: Uint8Array };

/**
 * ENCRYPTION_KEYS: comma-separated `kid:key` pairs, newest first, each key 32 random bytes in base64url:
 * `2026-11:3q2-7w…,2026-01:…`. The first seals; all open, so ciphertexts sealed before a rotation stay
 * readable. Messages never quote the value: it is a secret.
 */
export function parseEncryptionKeys(raw: string): readonly EncryptionKey[] {
  const entries = raw
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  if (entries.length === 0) throw new ConfigError('expected kid:base64url-key pairs separated by commas');
  const kids = new Set<string>();
  return entries.map((entry, index) => {
    const where = `key ${index}`;
    const colon = entry.indexOf(':');
    const kid = colon > 0 ? entry.slice(0, colon) : '';
    const encoded = entry.slice(colon + 1);
    if (!keyIdPattern.test(kid)) {
      throw new ConfigError(
        `${where}: expected kid:key, the kid being 1 to 64 letters, digits, ".", "_" or "-"`,
      );
    }
    if (kids.has(kid)) throw new ConfigError(`${where}: kid "${kid}" is used twice`);
    kids.add(kid);
    const key = Buffer.from(encoded, 'base64url');
    // Buffer.from skips characters outside the alphabet: re-encoding catches a mangled value.
    if (key.length !== 32 || key.toString('base64url') !== encoded.replace(/=+$/, '')) {
      throw new ConfigError(`${where} (${kid}): expected 32 bytes in base64url (43 characters)`);
    }
    return Object.freeze({ kid, key: new Uint8Array(key) });
  });
}

type Variable<T> = { parse: Parser<T>; fallback: T; doc: string };
const variable = <T>(parse: Parser<T>, fallback: T, doc: string): Variable<T> => ({ parse, fallback, doc });

/** Every environment variable PyTake reads, with its default (`undefined`: unset means off). */
export const variables = {
  NODE_ENV: variable(
    oneOf('development', 'test', 'production'),
    'development',
    'development, test or production; production refuses development fallbacks',
  ),
  HOST: variable(text, '0.0.0.0', 'address the HTTP and WebSocket server binds'),
  PORT: variable(integer(0, 65535), 3000, 'port of the HTTP and WebSocket server (0 takes a free one)'),
  LOG_LEVEL: variable(
    oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'),
    'info',
    'pino log level',
  ),
  DATA_DIR: variable(text, './data', 'where embedded Postgres and generated development files live'),
  DATABASE_URL: variable<string | undefined>(
    url('postgres', 'postgresql'),
    undefined,
    'Postgres connection URL; unset starts embedded Postgres under DATA_DIR',
  ),
  DATABASE_POOL_SIZE: variable(integer(2, 200), 10, 'connections in the Postgres pool'),
  EVENTSTORE_URL: variable<string | undefined>(
    url('esdb', 'esdb+discover', 'kurrentdb', 'kurrentdb+discover'),
    undefined,
    'EventStoreDB connection string; unset keeps events in Postgres',
  ),
  EVENTSTORE_GROUP_COMMIT_MAX: variable(
    integer(1, 10_000),
    500,
    'most appends the Postgres event store writes in one transaction',
  ),
  REDIS_URL: variable<string | undefined>(
    url('redis', 'rediss'),
    undefined,
    'Redis connection URL for cross-node fan-out and actor leases; unset runs as a single node',
  ),
  REDIS_KEY_PREFIX: variable(
    text,
    'pytake:',
    'starts every Redis key and channel PyTake uses (several deployments, or test runs, can share one Redis)',
  ),
  MONGODB_URL: variable<string | undefined>(
    url('mongodb', 'mongodb+srv'),
    undefined,
    'MongoDB connection URL for the conversation transcript archive; unset turns that projector off',
  ),
  HTTP_BODY_LIMIT_BYTES: variable(
    integer(1024, 64 * 1024 * 1024),
    1024 * 1024,
    'largest request body accepted',
  ),
  SHUTDOWN_TIMEOUT_MS: variable(
    integer(0, 600_000),
    10_000,
    'how long a graceful shutdown waits for in-flight requests',
  ),
  JWT_SIGNING_KEYS: variable<readonly SigningJwk[] | undefined>(
    parseSigningKeys,
    undefined,
    'JSON array of Ed25519 private JWKs with kid, newest first (the first signs, all verify); unset generates one into DATA_DIR',
  ),
  ACCESS_TOKEN_TTL_SECONDS: variable(integer(1, 86_400), 900, 'lifetime of an access token in seconds'),
  ENCRYPTION_KEYS: variable<readonly EncryptionKey[] | undefined>(
    parseEncryptionKeys,
    undefined,
    'kid:base64url-32-byte-key pairs separated by commas, newest first (the first seals, all open); unset generates one into DATA_DIR',
  ),
  LOGIN_FAILURES_PER_ACCOUNT: variable(
    integer(1, 1000),
    5,
    'failed logins allowed per account (email) within LOGIN_FAILURE_WINDOW_SECONDS before 429',
  ),
  LOGIN_FAILURES_PER_ADDRESS: variable(
    integer(1, 100_000),
    20,
    'failed logins allowed per client address within LOGIN_FAILURE_WINDOW_SECONDS before 429',
  ),
  LOGIN_FAILURE_WINDOW_SECONDS: variable(
    integer(1, 86_400),
    900,
    'sliding window over which failed logins are counted',
  ),
  META_APP_SECRET: variable<string | undefined>(
    text,
    undefined,
    "the platform Meta app's secret: POST /webhooks/meta must be signed with it; unset refuses that route (401)",
  ),
  WEBHOOK_VERIFY_TOKEN: variable<string | undefined>(
    text,
    undefined,
    "token Meta's subscription handshake (GET /webhooks/meta) must present; channels may also have their own",
  ),
  META_GRAPH_URL: variable(
    url('https', 'http'),
    'https://graph.facebook.com',
    'base URL of the Graph API the outbound sender calls (point it at a local server for tests)',
  ),
  META_GRAPH_VERSION: variable(text, 'v21.0', 'Graph API version in request paths'),
  GRAPH_TIMEOUT_MS: variable(integer(100, 120_000), 15_000, 'how long one Graph API call may take'),
  CHANNEL_VERIFICATION: variable(
    oneOf('graph', 'off'),
    'graph',
    'graph: connecting a channel first reads its phone number from the Graph API with the given token (proof the business controls it); off skips that (tests, offline development)',
  ),
  OUTBOUND_RATE_PER_SECOND: variable(
    integer(1, 1000),
    80,
    "messages per second sent per WhatsApp number (Meta's default throughput); a channel may set its own",
  ),
  OUTBOUND_PAIR_INTERVAL_MS: variable(
    integer(0, 600_000),
    6000,
    "Meta's pair rate: one message per this interval to the same customer from one number, after a burst",
  ),
  OUTBOUND_PAIR_BURST: variable(
    integer(1, 1000),
    45,
    'messages to one customer that may go out back to back before OUTBOUND_PAIR_INTERVAL_MS pacing applies',
  ),
  OUTBOUND_MAX_ATTEMPTS: variable(
    integer(1, 100),
    8,
    'Graph API attempts for a message on retryable errors before it ends as MessageFailed',
  ),
  OUTBOUND_RETRY_BASE_MS: variable(
    integer(1, 600_000),
    1000,
    'first retry delay after a retryable Graph API error; doubles per attempt (with jitter) up to 5 minutes',
  ),
  OUTBOUND_IN_DOUBT_GRACE_SECONDS: variable(
    integer(0, 3600),
    60,
    'after a crash mid-send, how long to wait for a status webhook proving Meta has the message before sending it again',
  ),
  ACTOR_MAILBOX_LIMIT: variable(
    integer(1, 100_000),
    1000,
    'commands waiting per conversation beyond which new ones are refused with 503 + Retry-After',
  ),
  ACTOR_IDLE_SECONDS: variable(
    integer(1, 86_400),
    120,
    'a conversation actor idle this long is dropped from memory (its stream stays)',
  ),
  ACTOR_LEASE_SECONDS: variable(
    integer(2, 300),
    10,
    "with REDIS_URL: how long a node owns a conversation without renewing; a dead node's conversations move after at most this",
  ),
  PROJECTION_READY_LAG_SECONDS: variable(
    integer(1, 86_400),
    30,
    '/readyz reports not ready while a projection is this far behind the newest event',
  ),
  WS_MAX_BUFFER_BYTES: variable(
    integer(16_384, 1_073_741_824),
    1_048_576,
    'a WebSocket client with more unsent data than this is closed with 1013 (try again later)',
  ),
  WS_IDLE_TIMEOUT_SECONDS: variable(
    integer(8, 960),
    120,
    'a WebSocket that sends nothing (not even a ping) for this long is closed',
  ),
  WS_AUTH_RECHECK_SECONDS: variable(
    integer(1, 3600),
    15,
    "how often an open WebSocket's session is checked again: a revoked session loses access within this",
  ),
  FLOW_MAX_STEPS: variable(
    integer(1, 10_000),
    100,
    'nodes a chatbot flow may run in one turn; past this the run stops and the conversation goes to a human',
  ),
  FLOW_API_ALLOWED_HOSTS: variable<ReadonlySet<string>>(
    (raw) => {
      try {
        return parseAllowedHosts(raw);
      } catch (error) {
        throw new ConfigError((error as Error).message);
      }
    },
    new Set<string>(),
    'comma-separated host:port pairs that flow api_call nodes may reach although private, loopback or link-local (refused otherwise)',
  ),
  FLOW_API_TIMEOUT_MS: variable(
    integer(100, 60_000),
    10_000,
    "the longest a flow api_call may take (a node's own timeoutMs is capped by it)",
  ),
  FLOW_API_MAX_RESPONSE_BYTES: variable(
    integer(1024, 10 * 1024 * 1024),
    65_536,
    'a flow api_call response larger than this is cut off and takes the error branch',
  ),
  FLOW_API_CONCURRENCY: variable(
    integer(1, 1000),
    32,
    "flow api_call requests in flight at once (on the workers' node)",
  ),
  ALLOW_SIGNUP: variable(boolean, true, 'POST /api/v1/auth/signup creates organizations; false turns it off'),
  ALLOW_DEV_FALLBACKS: variable(
    boolean,
    false,
    'lets NODE_ENV=production start with development fallbacks (embedded Postgres, keys generated into DATA_DIR)',
  ),
} as const;

type Variables = typeof variables;
export type Config = { [K in keyof Variables]: Variables[K]['fallback'] };
export type Env = Record<string, string | undefined>;

/** Reads and validates the environment; throws a ConfigError naming the first wrong variable. */
export function loadConfig(env: Env = process.env): Config {
  const config: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(variables) as [string, Variable<unknown>][]) {
    const raw = env[name];
    if (raw === undefined || raw === '') {
      config[name] = spec.fallback;
      continue;
    }
    try {
      config[name] = spec.parse(raw);
    } catch (error) {
      const reason = error instanceof ConfigError ? error.message : String(error);
      throw new ConfigError(`${name}: ${reason}`);
    }
  }
  const result = config as Config;
  if (result.NODE_ENV === 'production' && !result.ALLOW_DEV_FALLBACKS) {
    if (result.DATABASE_URL === undefined) {
      throw new ConfigError(
        'DATABASE_URL: required when NODE_ENV=production (embedded Postgres is a development fallback; set ALLOW_DEV_FALLBACKS=true to allow it)',
      );
    }
    // Keys generated into DATA_DIR would differ per node and vanish with a container: every node of a
    // deployment must share the same keys, so production takes them from the environment.
    for (const name of ['JWT_SIGNING_KEYS', 'ENCRYPTION_KEYS'] as const) {
      if (result[name] === undefined) {
        throw new ConfigError(
          `${name}: required when NODE_ENV=production (a key generated into DATA_DIR is a development fallback; set ALLOW_DEV_FALLBACKS=true to allow it)`,
        );
      }
    }
  }
  return result;
}
