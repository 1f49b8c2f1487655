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
  ALLOW_DEV_FALLBACKS: variable(
    boolean,
    false,
    'lets NODE_ENV=production start with development fallbacks (embedded Postgres)',
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
  if (result.NODE_ENV === 'production' && !result.ALLOW_DEV_FALLBACKS && result.DATABASE_URL === undefined) {
    throw new ConfigError(
      'DATABASE_URL: required when NODE_ENV=production (embedded Postgres is a development fallback; set ALLOW_DEV_FALLBACKS=true to allow it)',
    );
  }
  return result;
}
