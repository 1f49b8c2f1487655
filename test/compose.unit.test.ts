import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { loadConfig, variables } from '../src/config/config.ts';
import { abiOfNode, chooseUwsBuild } from '../src/http/chooseUwsBuild.ts';
import { generateSigningJwk } from '../src/identity/accessTokens.ts';

// compose.yml and the Dockerfile are not run by the test suite (no Docker here): this keeps them honest
// against the code they start.

const root = new URL('../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');

type Service = {
  image?: string;
  build?: unknown;
  environment?: Record<string, string | number | boolean | null> | string[];
  depends_on?: Record<string, { condition?: string }> | string[];
  healthcheck?: { test?: unknown };
  volumes?: string[];
};
type Compose = { services: Record<string, Service>; volumes?: Record<string, unknown> };

const compose = parse(read('compose.yml')) as Compose;

/** Compose's `${NAME:-default}` / `${NAME}` interpolation, as it would run with nothing set. */
function interpolate(value: string): string {
  return value.replace(
    /\$\{(\w+)(?::?-([^}]*))?\}/g,
    (_match, _name: string, fallback?: string) => fallback ?? '',
  );
}

function environmentOf(service: Service): Record<string, string> {
  const entries = Array.isArray(service.environment)
    ? service.environment.map((entry) => {
        const equals = entry.indexOf('=');
        return [entry.slice(0, equals), entry.slice(equals + 1)] as const;
      })
    : Object.entries(service.environment ?? {}).map(([name, value]) => [name, String(value ?? '')] as const);
  return Object.fromEntries(entries.map(([name, value]) => [name, interpolate(value)]));
}

function service(name: string): Service {
  const found = compose.services[name];
  assert.ok(found, `compose.yml has no service ${name}`);
  return found;
}

const app = service('app');
const appEnv = environmentOf(app);

describe('compose.yml', () => {
  it('runs the app beside KurrentDB, Postgres 17, Redis 7 and MongoDB 7', () => {
    assert.ok(app.build, 'the app is built from the Dockerfile');
    assert.match(service('eventstore').image ?? '', /kurrentdb|eventstore/);
    assert.match(service('postgres').image ?? '', /^postgres:17/);
    assert.match(service('redis').image ?? '', /^redis:7/);
    assert.match(service('mongodb').image ?? '', /^mongo:7/);
  });

  it('sets on the app only variables that src/config/config.ts reads', () => {
    const unknown = Object.keys(appEnv).filter((name) => !Object.hasOwn(variables, name));
    assert.deepEqual(unknown, [], `not in config.ts variables: ${unknown.join(', ')}`);
    for (const name of [
      'NODE_ENV',
      'PORT',
      'LOG_LEVEL',
      'DATABASE_URL',
      'EVENTSTORE_URL',
      'REDIS_URL',
      'MONGODB_URL',
    ]) {
      assert.ok(appEnv[name], `the app's environment sets ${name}`);
    }
  });

  it("points the app's store URLs at the compose services", () => {
    const hosts = {
      DATABASE_URL: 'postgres',
      EVENTSTORE_URL: 'eventstore',
      REDIS_URL: 'redis',
      MONGODB_URL: 'mongodb',
    } as const;
    for (const [name, host] of Object.entries(hosts)) {
      assert.equal(new URL(appEnv[name] ?? '').hostname, host, `${name} names the ${host} service`);
      service(host);
    }
  });

  it('requires the keys from the operator, with no default', () => {
    const raw = (app.environment ?? {}) as Record<string, string>;
    for (const name of ['JWT_SIGNING_KEYS', 'ENCRYPTION_KEYS']) {
      assert.match(raw[name] ?? '', new RegExp(`^\\$\\{${name}:\\?`), `${name} uses \${${name}:?…}`);
    }
  });

  it('gives the app an environment loadConfig accepts as production', () => {
    // What an operator's .env would provide for the required keys.
    const config = loadConfig({
      ...appEnv,
      JWT_SIGNING_KEYS: JSON.stringify([generateSigningJwk('compose')]),
      ENCRYPTION_KEYS: `compose:${randomBytes(32).toString('base64url')}`,
    });
    assert.equal(config.NODE_ENV, 'production');
    assert.equal(config.ALLOW_DEV_FALLBACKS, false);
    assert.ok(config.DATABASE_URL && config.EVENTSTORE_URL && config.REDIS_URL && config.MONGODB_URL);
  });

  it('starts the app only once every store it depends on is healthy', () => {
    const dependsOn = app.depends_on;
    assert.ok(dependsOn && !Array.isArray(dependsOn), 'depends_on uses the long form with conditions');
    assert.deepEqual(Object.keys(dependsOn).sort(), ['eventstore', 'mongodb', 'postgres', 'redis']);
    for (const [name, { condition }] of Object.entries(dependsOn)) {
      assert.equal(condition, 'service_healthy', `${name}: condition`);
      assert.ok(service(name).healthcheck?.test, `${name} has a healthcheck`);
    }
  });

  it('keeps every store on a declared named volume', () => {
    for (const name of ['eventstore', 'postgres', 'redis', 'mongodb']) {
      const volumes = service(name).volumes ?? [];
      assert.ok(volumes.length > 0, `${name} has a volume`);
      for (const volume of volumes) {
        const source = volume.split(':')[0] ?? '';
        assert.ok(
          Object.hasOwn(compose.volumes ?? {}, source),
          `${name}: ${source} is a declared named volume`,
        );
      }
    }
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const instruction = (name: string) =>
    dockerfile
      .split('\n')
      .filter((line) => line.startsWith(`${name} `))
      .map((line) => line.slice(name.length + 1).trim());

  it('runs src/main.ts as a non-root user', () => {
    const [cmd, ...others] = instruction('CMD');
    assert.ok(cmd, 'has a CMD');
    assert.equal(others.length, 0, 'a single CMD');
    const argv = JSON.parse(cmd) as string[];
    assert.ok(argv.includes('tsx') && argv.at(-1) === 'src/main.ts', `CMD runs src/main.ts with tsx: ${cmd}`);
    assert.deepEqual(instruction('USER'), ['node']);
    assert.deepEqual(instruction('EXPOSE'), ['3000']);
    assert.match(dockerfile, /^HEALTHCHECK [\s\S]*\/healthz/m);
  });

  it('starts from a Node and a glibc that a native uWebSockets.js build loads', () => {
    const [from, ...others] = instruction('FROM');
    assert.equal(others.length, 0, 'a single stage');
    const [, major, debian] = /^node:(\d+)-(\w+)-slim$/.exec(from ?? '') ?? [];
    const glibcOf: Record<string, string> = { bookworm: '2.36', trixie: '2.41' };
    const glibc = glibcOf[debian ?? ''];
    const abi = abiOfNode[Number(major) as keyof typeof abiOfNode];
    assert.ok(glibc && abi, `FROM node:<major>-<bookworm|trixie>-slim with a major PyTake runs on: ${from}`);
    for (const arch of ['x64', 'arm64']) {
      const build = chooseUwsBuild({ node: `${major}.0.0`, abi, platform: 'linux', arch, glibc });
      assert.ok(!('refused' in build), `${from} on ${arch}: ${'refused' in build ? build.refused : ''}`);
    }
  });

  it('keeps tsx, which runs the app, among the runtime dependencies', () => {
    const pkg = JSON.parse(read('package.json')) as { dependencies?: Record<string, string> };
    assert.ok(pkg.dependencies?.tsx, 'npm ci --omit=dev must keep tsx');
  });
});
