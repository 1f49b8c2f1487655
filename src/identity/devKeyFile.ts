import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  linkSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { type Config, ConfigError } from '../config/config.ts';
import type { Logger } from '../log/logger.ts';

/**
 * Development fallback for a key the environment does not provide: generated once into DATA_DIR with
 * mode 0600 and reused on every later start, so tokens and ciphertexts survive a restart. Production
 * refuses it (unless ALLOW_DEV_FALLBACKS=true): nodes of one deployment must share their keys, and a
 * container's DATA_DIR may not outlive it.
 *
 * `generate` makes the file's text, `parse` reads it back into keys (throwing a ConfigError on a damaged
 * file). The keys themselves are never logged.
 */
export function devKeyFile<T>(
  config: Pick<Config, 'NODE_ENV' | 'ALLOW_DEV_FALLBACKS' | 'DATA_DIR'>,
  logger: Logger,
  spec: { variable: string; fileName: string; generate: () => string; parse: (text: string) => T },
): T {
  if (config.NODE_ENV === 'production' && !config.ALLOW_DEV_FALLBACKS) {
    throw new ConfigError(
      `${spec.variable}: required when NODE_ENV=production (a key generated into DATA_DIR is a development fallback; set ALLOW_DEV_FALLBACKS=true to allow it)`,
    );
  }
  const path = join(config.DATA_DIR, spec.fileName);
  const existing = readIfPresent(path);
  if (existing !== undefined) {
    if ((statSync(path).mode & 0o077) !== 0) {
      // Someone loosened it (or copied it with a umask): a key readable by others is no longer secret.
      chmodSync(path, 0o600);
      logger.warn({ path }, `${spec.variable}: tightened the development key file to mode 0600`);
    }
    logger.info({ path }, `${spec.variable} is unset: using the development key file`);
    return parseKeyFile(spec, path, existing);
  }

  mkdirSync(config.DATA_DIR, { recursive: true });
  // Written beside the target, then hard-linked into place: the link is atomic and fails if the file
  // exists, so a crash never leaves half a key file and two processes starting at once agree on one key.
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(temporary, spec.generate(), { mode: 0o600, flag: 'wx' });
  try {
    linkSync(temporary, path);
    logger.warn(
      { path },
      `${spec.variable} is unset: generated a development key into DATA_DIR (set ${spec.variable} in production)`,
    );
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP') {
      // A file system without hard links (some mounted volumes): a rename is still atomic, only not
      // exclusive, which matters only if two processes generate at the very same moment.
      renameSync(temporary, path);
      logger.warn({ path }, `${spec.variable} is unset: generated a development key into DATA_DIR`);
    } else if (code !== 'EEXIST') {
      throw error;
    }
  } finally {
    rmSync(temporary, { force: true });
  }
  const written = readIfPresent(path);
  if (written === undefined) throw new Error(`${path} vanished right after it was written`);
  return parseKeyFile(spec, path, written);
}

function readIfPresent(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** A damaged key file stops start-up with a message naming the file, never quoting its content. */
function parseKeyFile<T>(
  spec: { variable: string; parse: (text: string) => T },
  path: string,
  text: string,
): T {
  try {
    return spec.parse(text);
  } catch (error) {
    const reason = error instanceof ConfigError ? error.message : 'unreadable';
    throw new ConfigError(
      `${spec.variable}: the development key file ${path} is damaged (${reason}); restore it, or move it away to generate a new key (which cannot read what the old one protected)`,
    );
  }
}
