import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { ConfigError, type EncryptionKey, loadConfig, parseEncryptionKeys } from '../../src/config/config.ts';
import { createSecretBox, SecretBoxError } from '../../src/identity/secretBox.ts';

const newKey = (kid: string): EncryptionKey => ({ kid, key: new Uint8Array(randomBytes(32)) });
const headerOf = (ciphertext: string) =>
  JSON.parse(Buffer.from(ciphertext.split('.')[0] ?? '', 'base64url').toString()) as Record<string, unknown>;

describe('secret box', () => {
  const current = newKey('2026-11');
  const old = newKey('2026-05');
  const secret = 'EAAG-whatsapp-access-token-ÿ-✓';

  it('seals and opens a round trip; the ciphertext is a dir/A256GCM JWE naming its key', async () => {
    const box = createSecretBox([current]);
    const sealed = await box.seal(secret);
    assert.equal(sealed.split('.').length, 5);
    assert.ok(!sealed.includes(secret));
    assert.deepEqual(headerOf(sealed), { alg: 'dir', enc: 'A256GCM', kid: '2026-11' });
    assert.equal(await box.open(sealed), secret);
    assert.notEqual(await box.seal(secret), sealed, 'a fresh IV every time');
    assert.equal(await box.open(await box.seal('')), '');
  });

  it('opens what an older key sealed after a rotation, and says what to re-seal', async () => {
    const sealedByOld = await createSecretBox([old]).seal(secret);
    const rotated = createSecretBox([current, old]);
    assert.equal(await rotated.open(sealedByOld), secret);
    assert.equal(rotated.needsReseal(sealedByOld), true);
    const resealed = await rotated.seal(await rotated.open(sealedByOld));
    assert.equal(headerOf(resealed).kid, '2026-11');
    assert.equal(rotated.needsReseal(resealed), false);
  });

  it('refuses a ciphertext from a key it does not hold, naming the kid', async () => {
    const sealedByOld = await createSecretBox([old]).seal(secret);
    await assert.rejects(createSecretBox([current]).open(sealedByOld), (error: unknown) => {
      assert.ok(error instanceof SecretBoxError);
      assert.match(error.message, /"2026-05"/);
      assert.match(error.message, /ENCRYPTION_KEYS does not hold/);
      return true;
    });
    // Same kid, other bytes: authentication fails.
    const impostor = await createSecretBox([{ kid: '2026-11', key: old.key }]).seal(secret);
    await assert.rejects(createSecretBox([current]).open(impostor), SecretBoxError);
  });

  it('refuses a tampered ciphertext, tag, IV or header', async () => {
    const box = createSecretBox([current]);
    const sealed = await box.seal(secret);
    const parts = sealed.split('.');
    const flip = (part: string) => `${part[0] === 'A' ? 'B' : 'A'}${part.slice(1)}`;
    for (const index of [2, 3, 4]) {
      const altered = parts.map((part, at) => (at === index ? flip(part) : part)).join('.');
      await assert.rejects(box.open(altered), SecretBoxError, `part ${index}`);
    }
    const otherHeader = Buffer.from(
      JSON.stringify({ ...headerOf(sealed), zip: undefined, cty: 'x' }),
    ).toString('base64url');
    await assert.rejects(box.open([otherHeader, ...parts.slice(1)].join('.')), SecretBoxError);
    for (const garbage of ['', 'abc', 'a.b.c.d.e', sealed.slice(0, -5)]) {
      await assert.rejects(box.open(garbage), SecretBoxError, garbage);
    }
  });

  it('binds a ciphertext to its context when one is given', async () => {
    const box = createSecretBox([current]);
    const sealed = await box.seal(secret, 'channel-1');
    assert.equal(await box.open(sealed, 'channel-1'), secret);
    await assert.rejects(box.open(sealed, 'channel-2'), /another context/);
    await assert.rejects(box.open(sealed), /another context/);
    await assert.rejects(box.open(await box.seal(secret), 'channel-1'), /another context/);
  });
});

describe('ENCRYPTION_KEYS', () => {
  const a = randomBytes(32).toString('base64url');
  const b = randomBytes(32).toString('base64url');

  it('parses kid:base64url pairs, newest first', () => {
    const keys = parseEncryptionKeys(`k1:${a}, k0:${b}`);
    assert.deepEqual(
      keys.map((entry) => entry.kid),
      ['k1', 'k0'],
    );
    assert.deepEqual(Buffer.from(keys[0]?.key ?? []), Buffer.from(a, 'base64url'));
    assert.equal(loadConfig({ ENCRYPTION_KEYS: `k1:${a}` }).ENCRYPTION_KEYS?.[0]?.kid, 'k1');
  });

  for (const [what, value, reason] of [
    ['no kid', a, /key 0: expected kid:key/],
    ['an empty kid', `:${a}`, /key 0: expected kid:key/],
    ['a short key', `k1:${randomBytes(16).toString('base64url')}`, /key 0 \(k1\): expected 32 bytes/],
    ['a long key', `k1:${randomBytes(33).toString('base64url')}`, /expected 32 bytes/],
    ['standard base64 with + and /', `k1:${'+/'.repeat(21)}A`, /expected 32 bytes in base64url/],
    ['a repeated kid', `k1:${a},k1:${b}`, /key 1: kid "k1" is used twice/],
    ['only commas', ',,', /expected kid:base64url-key pairs/],
  ] as const) {
    it(`stops start-up on ${what}, without quoting the key`, () => {
      assert.throws(
        () => loadConfig({ ENCRYPTION_KEYS: value }),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError);
          assert.match(error.message, /^ENCRYPTION_KEYS: /);
          assert.match(error.message, reason);
          assert.ok(!error.message.includes(a) && !error.message.includes(b));
          return true;
        },
      );
    });
  }
});
