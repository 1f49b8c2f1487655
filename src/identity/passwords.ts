import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import argon2 from 'argon2';

/**
 * Password hashing: argon2id with the first configuration of the OWASP Password Storage Cheat Sheet,
 * m=19456 KiB (19 MiB), t=2 iterations, p=1 lane. Argon2id resists both GPU cracking (memory-hard)
 * and side channels; these parameters keep one verification around tens of milliseconds on a server
 * core, so logins stay affordable while an offline guess costs the same 19 MiB and two passes.
 * The parameters are stored in each hash (`$argon2id$v=19$m=19456,p=1,t=2$…`), so raising them later
 * leaves old hashes verifiable; `passwordNeedsRehash` tells the login path to upgrade one.
 *
 * argon2 runs on libuv's thread pool, off the event loop. That pool (UV_THREADPOOL_SIZE threads, 4 by
 * default) also runs WebCrypto — every access-token verification — and file system calls: a burst of
 * logins filling it made token checks wait behind 26 ms hashes (p50 86 ms per check with 8 logins in
 * flight, before this limit; `npm run bench:auth` measures it). So hashes take turns here, at most
 * `passwordHashConcurrency` at once — one per core, always leaving a pool thread free — and the others
 * wait in a queue of their own. Once every core hashes, more at once only lengthens the wait.
 */
export const argon2Parameters = {
  type: argon2.argon2id,
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
} as const;

/**
 * Longer passwords are refused outright: argon2 pre-hashes its input, but a megabyte "password" is
 * still an abuse of the login route, and no person types more than this. Route schemas should
 * declare the same maxLength.
 */
export const maxPasswordLength = 1024;

/**
 * libuv reads UV_THREADPOOL_SIZE itself when the pool starts; it is the runtime's variable, not
 * PyTake's, so it is read here rather than declared in config.ts.
 */
const threadPoolSize = Number.parseInt(process.env.UV_THREADPOOL_SIZE ?? '', 10) || 4;

/** Most argon2 operations running at once: one per core, leaving at least one pool thread free. */
export const passwordHashConcurrency = Math.max(1, Math.min(availableParallelism(), threadPoolSize - 1));

let running = 0;
const waiting: (() => void)[] = [];

/** Runs `work` once a hashing slot is free; a finished one hands its slot straight to the next in line. */
async function inTurn<T>(work: () => Promise<T>): Promise<T> {
  if (running < passwordHashConcurrency) running++;
  else await new Promise<void>((resolve) => waiting.push(resolve));
  try {
    return await work();
  } finally {
    const next = waiting.shift();
    if (next === undefined) running--;
    else next();
  }
}

/** Hashes a new password. Throws a RangeError beyond maxPasswordLength (validate before calling). */
export async function hashPassword(plain: string): Promise<string> {
  if (plain.length > maxPasswordLength) {
    throw new RangeError(`a password is at most ${maxPasswordLength} characters`);
  }
  return inTurn(() => argon2.hash(plain, argon2Parameters));
}

/**
 * True when `plain` is the password behind `hash` (constant-time comparison inside argon2). An absurdly
 * long input is a mismatch, and costs one verification of the dummy hash so it answers in the usual time.
 * A malformed `hash` throws: stored hashes come from hashPassword, so that is corruption, not a guess.
 */
export async function verifyPassword(hash: string, plain: string): Promise<boolean> {
  if (plain.length > maxPasswordLength) {
    const dummyHashed = await dummyHash();
    await inTurn(() => argon2.verify(dummyHashed, 'x'));
    return false;
  }
  return inTurn(() => argon2.verify(hash, plain));
}

/**
 * The login path: verifies against the user's hash, or, when no such user exists (or it is deleted),
 * against a dummy hash made with the same parameters, and answers false. Both paths cost one argon2
 * verification, so the response time does not reveal whether an email is registered.
 */
export async function verifyPasswordOrDummy(hash: string | undefined, plain: string): Promise<boolean> {
  if (hash === undefined) {
    await verifyPassword(await dummyHash(), plain);
    return false;
  }
  return verifyPassword(hash, plain);
}

/** True when a stored hash was made with other parameters than today's: rehash it after a good login. */
export function passwordNeedsRehash(hash: string): boolean {
  return argon2.needsRehash(hash, argon2Parameters);
}

let dummy: Promise<string> | undefined;

/**
 * The dummy hash, computed once on first use from a random password nobody knows. Call it at start-up
 * (`await primeDummyHash()`), or the very first unknown-email login pays for one extra hash.
 */
function dummyHash(): Promise<string> {
  dummy ??= inTurn(() => argon2.hash(randomBytes(32).toString('base64url'), argon2Parameters)).catch(
    (error: unknown) => {
      dummy = undefined; // a failure (e.g. out of memory) must not poison every later login
      throw error;
    },
  );
  return dummy;
}

/** Computes the dummy hash ahead of the first login. */
export async function primeDummyHash(): Promise<void> {
  await dummyHash();
}
