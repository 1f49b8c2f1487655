import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/config.ts';
import { createAccessTokens, loadSigningKeys } from '../../src/identity/accessTokens.ts';
import { createSecretBox, loadEncryptionKeys } from '../../src/identity/secretBox.ts';
import { createLogger } from '../../src/log/logger.ts';

const logger = createLogger('silent');
const root = mkdtempSync(join(tmpdir(), 'pytake-keys-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDataDir = () => join(root, `data-${dirs++}`, 'nested');
const modeOf = (path: string) => statSync(path).mode & 0o777;

describe('development key files', () => {
  it('generates a JWT signing key into DATA_DIR with mode 0600, and reuses it on the next start', async () => {
    const config = loadConfig({ DATA_DIR: freshDataDir() });
    const first = loadSigningKeys(config, logger);
    const path = join(config.DATA_DIR, 'jwt-signing-keys.json');
    assert.equal(modeOf(path), 0o600);
    assert.equal(first.length, 1);
    assert.match(first[0]?.kid ?? '', /^dev-[0-9a-f]{8}$/);
    const second = loadSigningKeys(config, logger);
    assert.deepEqual(second, first);
    // The file holds JWT_SIGNING_KEYS' own format, so it can be copied into the environment.
    assert.deepEqual(loadConfig({ JWT_SIGNING_KEYS: readFileSync(path, 'utf8') }).JWT_SIGNING_KEYS, first);
    // A token signed before the "restart" verifies after it.
    const { token } = await createAccessTokens({ keys: first, ttlSeconds: 900 }).sign({
      sub: 'u',
      org: 'o',
      sid: 's',
    });
    assert.equal((await createAccessTokens({ keys: second, ttlSeconds: 900 }).verify(token)).sub, 'u');
  });

  it('generates an encryption key the same way, and opens after a restart what it sealed before', async () => {
    const config = loadConfig({ DATA_DIR: freshDataDir() });
    const sealed = await createSecretBox(loadEncryptionKeys(config, logger)).seal('app-secret');
    const path = join(config.DATA_DIR, 'encryption-keys.json');
    assert.equal(modeOf(path), 0o600);
    const [entry] = JSON.parse(readFileSync(path, 'utf8')) as { kid: string; key: string }[];
    assert.equal(Buffer.from(entry?.key ?? '', 'base64url').length, 32);
    assert.equal(await createSecretBox(loadEncryptionKeys(config, logger)).open(sealed), 'app-secret');
  });

  it('prefers the environment and writes nothing then', () => {
    const dataDir = freshDataDir();
    const key = `env:${Buffer.alloc(32, 1).toString('base64url')}`;
    const config = loadConfig({ DATA_DIR: dataDir, ENCRYPTION_KEYS: key });
    assert.equal(loadEncryptionKeys(config, logger)[0]?.kid, 'env');
    assert.throws(() => statSync(join(dataDir, 'encryption-keys.json')), /ENOENT/);
  });

  it('tightens a key file someone made readable by others', () => {
    const config = loadConfig({ DATA_DIR: freshDataDir() });
    const first = loadSigningKeys(config, logger);
    const path = join(config.DATA_DIR, 'jwt-signing-keys.json');
    chmodSync(path, 0o644);
    assert.deepEqual(loadSigningKeys(config, logger), first);
    assert.equal(modeOf(path), 0o600);
  });

  it('stops on a damaged key file, naming the file and not its content', () => {
    const config = loadConfig({ DATA_DIR: freshDataDir() });
    loadEncryptionKeys(config, logger);
    const path = join(config.DATA_DIR, 'encryption-keys.json');
    writeFileSync(path, '[{"kid":"dev-1","key":"c2hvcnQ"}]');
    assert.throws(
      () => loadEncryptionKeys(config, logger),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.message.startsWith('ENCRYPTION_KEYS: the development key file') &&
        error.message.includes(path) &&
        !error.message.includes('c2hvcnQ'),
    );
    writeFileSync(join(config.DATA_DIR, 'jwt-signing-keys.json'), '{not json');
    assert.throws(
      () => loadSigningKeys(config, logger),
      /JWT_SIGNING_KEYS: the development key file .* is damaged/,
    );
  });

  it('refuses to generate keys in production unless development fallbacks are allowed', () => {
    const dataDir = freshDataDir();
    const production = { NODE_ENV: 'production' as const, ALLOW_DEV_FALLBACKS: false, DATA_DIR: dataDir };
    assert.throws(
      () => loadSigningKeys({ ...production, JWT_SIGNING_KEYS: undefined }, logger),
      /^ConfigError: JWT_SIGNING_KEYS: required when NODE_ENV=production/,
    );
    assert.throws(
      () => loadEncryptionKeys({ ...production, ENCRYPTION_KEYS: undefined }, logger),
      /^ConfigError: ENCRYPTION_KEYS: required when NODE_ENV=production/,
    );
    assert.throws(() => statSync(dataDir), /ENOENT/, 'nothing written');
    const allowed = loadConfig({ NODE_ENV: 'production', ALLOW_DEV_FALLBACKS: 'true', DATA_DIR: dataDir });
    assert.equal(loadSigningKeys(allowed, logger).length, 1);
    assert.equal(loadEncryptionKeys(allowed, logger).length, 1);
  });
});
