import { randomBytes, randomUUID } from 'node:crypto';
import { CompactEncrypt, type CryptoKey, compactDecrypt, decodeProtectedHeader, errors } from 'jose';
import { type Config, type EncryptionKey, parseEncryptionKeys } from '../config/config.ts';
import type { Logger } from '../log/logger.ts';
import { devKeyFile } from './devKeyFile.ts';

/**
 * Encryption at rest for the secrets PyTake must give back to Meta (WhatsApp access tokens, app
 * secrets): AES-256-GCM with a direct key, as a compact JWE (`alg: dir`, `enc: A256GCM`). The protected
 * header names the key (`kid`) and is authenticated with the ciphertext, so keys rotate: the first key
 * seals, every listed key opens, and a ciphertext names which one it needs. A random 96-bit IV per
 * seal keeps GCM safe for far more secrets than one deployment will ever store under one key.
 *
 * An optional `context` (say, the channel id) is sealed into the header and must match on open: a
 * ciphertext copied onto another row — another tenant's channel — then fails to open instead of
 * lending its secret there.
 */

export class SecretBoxError extends Error {
  override name = 'SecretBoxError';
}

export type SecretBox = {
  seal(plaintext: string, context?: string): Promise<string>;
  /** Throws SecretBoxError when the key is unknown, the ciphertext was altered, or the context differs. */
  open(ciphertext: string, context?: string): Promise<string>;
  /** True when the ciphertext was sealed by another key than the current one: re-seal it after a rotation. */
  needsReseal(ciphertext: string): boolean;
};

const keyManagement = 'dir';
const contentEncryption = 'A256GCM';

export function createSecretBox(keys: readonly EncryptionKey[]): SecretBox {
  const current = keys[0];
  if (current === undefined) throw new Error('createSecretBox: at least one encryption key is required');
  const raw = new Map(keys.map((entry) => [entry.kid, entry.key]));
  // Imported into WebCrypto once per kid and kept (non-extractable), rather than on every seal and open.
  const imported = new Map<string, Promise<CryptoKey>>();
  const keyFor = (kid: string): Promise<CryptoKey> | undefined => {
    const bytes = raw.get(kid);
    if (bytes === undefined) return undefined;
    let key = imported.get(kid);
    if (key === undefined) {
      key = crypto.subtle.importKey('raw', bytes, 'AES-GCM', false, ['encrypt', 'decrypt']);
      imported.set(kid, key);
    }
    return key;
  };
  const kidOf = (ciphertext: string): unknown => {
    try {
      return decodeProtectedHeader(ciphertext).kid;
    } catch {
      throw new SecretBoxError('not a sealed secret (malformed JWE)');
    }
  };

  return {
    async seal(plaintext, context) {
      const header = {
        alg: keyManagement,
        enc: contentEncryption,
        kid: current.kid,
        ...(context === undefined ? {} : { ctx: context }),
      };
      return new CompactEncrypt(new TextEncoder().encode(plaintext))
        .setProtectedHeader(header)
        .encrypt(await (keyFor(current.kid) as Promise<CryptoKey>));
    },

    async open(ciphertext, context) {
      const kid = kidOf(ciphertext);
      const key = typeof kid === 'string' ? keyFor(kid) : undefined;
      if (key === undefined) {
        throw new SecretBoxError(
          `sealed with key ${JSON.stringify(kid)}, which ENCRYPTION_KEYS does not hold (was it dropped too early after a rotation?)`,
        );
      }
      let result: Awaited<ReturnType<typeof compactDecrypt>>;
      try {
        result = await compactDecrypt(ciphertext, await key, {
          keyManagementAlgorithms: [keyManagement],
          contentEncryptionAlgorithms: [contentEncryption],
        });
      } catch (error) {
        if (error instanceof errors.JOSEError) {
          throw new SecretBoxError(
            `cannot open a sealed secret (${error.code}): altered, or sealed under another key`,
          );
        }
        throw error;
      }
      if (result.protectedHeader.ctx !== context) {
        throw new SecretBoxError('the sealed secret belongs to another context');
      }
      return new TextDecoder('utf-8', { fatal: true }).decode(result.plaintext);
    },

    needsReseal(ciphertext) {
      return kidOf(ciphertext) !== current.kid;
    },
  };
}

const encryptionKeyFile = 'encryption-keys.json';

/**
 * ENCRYPTION_KEYS when set (validated by loadConfig). Otherwise, outside production, the key in
 * `${DATA_DIR}/encryption-keys.json` — a JSON array of `{ "kid", "key" }`, key being 32 bytes in
 * base64url — generated with mode 0600 on the first start. Losing that file loses every secret it
 * sealed (channels must then be reconnected). Never logs a key.
 */
export function loadEncryptionKeys(
  config: Pick<Config, 'ENCRYPTION_KEYS' | 'NODE_ENV' | 'ALLOW_DEV_FALLBACKS' | 'DATA_DIR'>,
  logger: Logger,
): readonly EncryptionKey[] {
  if (config.ENCRYPTION_KEYS !== undefined) return config.ENCRYPTION_KEYS;
  return devKeyFile(config, logger, {
    variable: 'ENCRYPTION_KEYS',
    fileName: encryptionKeyFile,
    generate: () =>
      `${JSON.stringify([{ kid: `dev-${randomUUID().slice(0, 8)}`, key: randomBytes(32).toString('base64url') }], null, 2)}\n`,
    parse: (text) => {
      const entries: unknown = JSON.parse(text);
      if (!Array.isArray(entries)) throw new SyntaxError('expected a JSON array');
      // Back to the environment's `kid:key` form, so one parser validates both.
      return parseEncryptionKeys(
        entries.map((entry: { kid?: unknown; key?: unknown }) => `${entry?.kid}:${entry?.key}`).join(','),
      );
    },
  });
}
