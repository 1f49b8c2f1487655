/**
 * Authentication benchmark: `npm run bench:auth [-- --seconds 8 --concurrency 1,2,4,8,32 --json]`.
 *
 * Measures, in one process and without a database (the figures are the CPU cost PyTake adds):
 *   1. logins per second: argon2id verification of a correct password with the production parameters,
 *      at several concurrencies (argon2 runs on libuv's thread pool, UV_THREADPOOL_SIZE, 4 by
 *      default, so beyond 4 in flight requests queue), with p50/p99 latency per login; and the
 *      unknown-email path (the dummy hash) beside it, which should cost the same;
 *   2. the cost of verifying an access token, as every authenticated request does: one at a time
 *      (latency) and many in flight (throughput; WebCrypto hands each check to the thread pool), beside
 *      a bare node:crypto Ed25519 verify and an HMAC-SHA256 of a string of the token's size (floors);
 *   3. the cost of signing one;
 *   4. token verification latency during a login burst: argon2 and WebCrypto share the thread pool,
 *      so this shows whether authenticated requests wait behind password hashing.
 * It prints the argon2 parameters, the machine, the load average and the date.
 */
import { createHmac, createPublicKey, verify as cryptoVerify, randomBytes } from 'node:crypto';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createAccessTokens, generateSigningJwk } from '../../src/identity/accessTokens.ts';
import {
  argon2Parameters,
  hashPassword,
  passwordHashConcurrency,
  verifyPassword,
  verifyPasswordOrDummy,
} from '../../src/identity/passwords.ts';

const usage = `npm run bench:auth -- [options]
  --seconds S        duration of each login measure (default 8)
  --concurrency LIST logins in flight, comma-separated (default 1,2,4,8,32)
  --tokens N         token verifications per measure (default 50000)
  --json             print the results as JSON on stdout (the table goes to stderr)`;

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '8' },
    concurrency: { type: 'string', default: '1,2,4,8,32' },
    tokens: { type: 'string', default: '50000' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(usage);
  process.exit(0);
}
const seconds = Number(values.seconds);
const concurrencies = values.concurrency.split(',').map(Number);
const tokenCount = Number(values.tokens);
if (!(seconds > 0) || concurrencies.some((c) => !Number.isInteger(c) || c < 1) || !(tokenCount > 0)) {
  console.error(usage);
  process.exit(2);
}
const print = values.json
  ? (line: string) => process.stderr.write(`${line}\n`)
  : (line: string) => console.log(line);

// ---------------------------------------------------------------------------------------------
// Machine

const cpus = os.cpus();
const machine = {
  cpu: cpus[0]?.model.trim() ?? 'unknown',
  cores: cpus.length,
  memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  node: process.version,
  uvThreadpoolSize: Number(process.env.UV_THREADPOOL_SIZE ?? 4),
  loadAverage: os.loadavg().map((load) => Number(load.toFixed(2))),
  date: new Date().toISOString(),
};
print(`date      ${machine.date}`);
print(`machine   ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, node ${machine.node}`);
print(
  `          UV_THREADPOOL_SIZE=${machine.uvThreadpoolSize}, load average ${machine.loadAverage.join(' ')}`,
);
print(
  `          argon2 operations at once: ${passwordHashConcurrency} (one per core, a pool thread kept free)`,
);
print(
  `argon2id  m=${argon2Parameters.memoryCost} KiB (${(argon2Parameters.memoryCost / 1024).toFixed(0)} MiB), t=${argon2Parameters.timeCost}, p=${argon2Parameters.parallelism}`,
);

// ---------------------------------------------------------------------------------------------
// Helpers

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? Number.NaN;

/** Runs `task` from `inFlight` loops for `durationMs`; latencies in ms, CPU share of the whole machine. */
async function closedLoop(inFlight: number, durationMs: number, task: () => Promise<unknown>) {
  const latencies: number[] = [];
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const deadline = started + durationMs;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < deadline) {
        const at = performance.now();
        await task();
        latencies.push(performance.now() - at);
      }
    }),
  );
  const elapsedMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  latencies.sort((a, b) => a - b);
  return {
    perSecond: (latencies.length / elapsedMs) * 1000,
    count: latencies.length,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    cpuPercentOfMachine: ((cpu.user + cpu.system) / 1000 / elapsedMs / machine.cores) * 100,
  };
}

/** `count` calls, `inFlight` at a time; µs per call of wall time. */
async function timed(count: number, inFlight: number, task: () => unknown) {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next++ < count) await task();
    }),
  );
  const elapsedMs = performance.now() - started;
  return { perSecond: (count / elapsedMs) * 1000, microseconds: (elapsedMs * 1000) / count };
}

const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

// ---------------------------------------------------------------------------------------------
// 1. Logins

const password = 'correct horse battery staple 1';
const stored = await hashPassword(password);
await verifyPasswordOrDummy(undefined, password); // computes the dummy hash outside the measures
for (let i = 0; i < 4; i++) await verifyPassword(stored, password);

print('');
print(`logins (argon2id verify of a correct password, ${seconds} s each)`);
print('  in flight   logins/s   p50 ms    p99 ms   CPU % of machine');
const logins: Record<string, unknown>[] = [];
for (const inFlight of concurrencies) {
  const result = await closedLoop(inFlight, seconds * 1000, () => verifyPassword(stored, password));
  logins.push({ inFlight, ...result });
  print(
    `  ${String(inFlight).padStart(9)} ${fmt(result.perSecond, 1).padStart(10)} ${fmt(result.p50Ms, 1).padStart(8)} ${fmt(result.p99Ms, 1).padStart(9)} ${fmt(result.cpuPercentOfMachine).padStart(10)}`,
  );
}
const dummyInFlight = machine.uvThreadpoolSize;
const unknownEmail = await closedLoop(dummyInFlight, seconds * 1000, () =>
  verifyPasswordOrDummy(undefined, password),
);
print(
  `  unknown email (dummy hash), ${dummyInFlight} in flight: ${fmt(unknownEmail.perSecond, 1)}/s, p50 ${fmt(unknownEmail.p50Ms, 1)} ms, p99 ${fmt(unknownEmail.p99Ms, 1)} ms`,
);

// ---------------------------------------------------------------------------------------------
// 2 and 3. Access tokens

const jwk = generateSigningJwk('bench');
const tokens = createAccessTokens({ keys: [jwk], ttlSeconds: 900 });
const subject = {
  sub: '0192f6d4-6b8c-7c1e-9b1a-3f2d5e6a7b8c',
  org: '0192f6d4-6b8c-7c1e-9b1a-000000000001',
  sid: 'f'.repeat(36),
};
const { token } = await tokens.sign(subject);
const [encodedHeader = '', encodedPayload = '', encodedSignature = ''] = token.split('.');
const signingInput = Buffer.from(`${encodedHeader}.${encodedPayload}`);
const signature = Buffer.from(encodedSignature, 'base64url');
const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, format: 'jwk' });
const hmacKey = randomBytes(32);

const warm = Math.min(5_000, tokenCount);
await timed(warm, 1, () => tokens.verify(token));
await timed(warm, 64, () => tokens.verify(token));
await timed(warm, 1, () => tokens.sign(subject));

const verifySequential = await timed(tokenCount, 1, () => tokens.verify(token));
const verifyConcurrent = await timed(tokenCount, 64, () => tokens.verify(token));
const ed25519Floor = await timed(tokenCount, 1, () => cryptoVerify(null, signingInput, publicKey, signature));
const hmacFloor = await timed(tokenCount, 1, () => createHmac('sha256', hmacKey).update(token).digest());
const signSequential = await timed(tokenCount, 1, () => tokens.sign(subject));

print('');
print(
  `access tokens (${token.length}-character EdDSA JWT, ${fmt(tokenCount)} operations each, after warm-up)`,
);
print('                                                 per second   µs each');
const row = (label: string, result: { perSecond: number; microseconds: number }) =>
  print(
    `  ${label.padEnd(46)} ${fmt(result.perSecond).padStart(10)} ${fmt(result.microseconds, 1).padStart(9)}`,
  );
row('verify (jose), one at a time', verifySequential);
row('verify (jose), 64 in flight', verifyConcurrent);
row('floor: bare node:crypto Ed25519 verify', ed25519Floor);
row(`floor: HMAC-SHA256 of ${token.length} characters`, hmacFloor);
row('sign (jose), one at a time', signSequential);

// ---------------------------------------------------------------------------------------------
// 4. Token checks during a login burst

print('');
print(
  `token verify latency while logins run (password hashing limited to ${passwordHashConcurrency} at once)`,
);
print('  logins in flight   verifies/s   p50 ms   p99 ms');
const duringLogins: Record<string, unknown>[] = [];
for (const inFlight of [0, 8, 32]) {
  let stop = false;
  const burst = Array.from({ length: inFlight }, async () => {
    while (!stop) await verifyPassword(stored, password);
  });
  await new Promise((resolve) => setTimeout(resolve, 200)); // let the burst fill the pool
  const result = await closedLoop(1, Math.min(seconds, 4) * 1000, () => tokens.verify(token));
  stop = true;
  await Promise.all(burst);
  duringLogins.push({ loginsInFlight: inFlight, ...result });
  print(
    `  ${String(inFlight).padStart(16)} ${fmt(result.perSecond).padStart(12)} ${fmt(result.p50Ms, 2).padStart(8)} ${fmt(result.p99Ms, 2).padStart(8)}`,
  );
}

if (values.json) {
  console.log(
    JSON.stringify(
      {
        machine,
        argon2: argon2Parameters,
        seconds,
        logins,
        unknownEmail: { inFlight: dummyInFlight, ...unknownEmail },
        tokens: {
          length: token.length,
          count: tokenCount,
          verifySequential,
          verifyConcurrent,
          ed25519Floor,
          hmacFloor,
          signSequential,
        },
        duringLogins,
      },
      null,
      2,
    ),
  );
}
