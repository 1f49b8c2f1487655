import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { chooseUwsBuild, currentRuntime, type Runtime, uwsPackages } from '../src/http/chooseUwsBuild.ts';
import { createTestDatabase } from './support/database.ts';
import { nodeRelease } from './support/nodeRelease.ts';
import { runScript } from './support/runScript.ts';
import { startServer, stop } from './support/serverProcess.ts';

const run = promisify(execFile);

/** The Node 22 that a new user most likely has (README "Runtimes"). */
const node22 = '22.23.5';

/** Serves /healthz and a real route on the native build, never uWS's JavaScript fallback. */
async function assertServes(node: string, runtime: Runtime): Promise<void> {
  const build = chooseUwsBuild(runtime);
  assert.ok(!('refused' in build));
  const db = await createTestDatabase('runtimes');
  const server = await startServer(
    { DATABASE_URL: db.url, DATA_DIR: mkdtempSync(join(tmpdir(), 'pytake-runtimes-')) },
    node,
  );
  try {
    const listening = server.logs.find((line) => line.includes('PyTake listening')) ?? '';
    assert.equal(
      (JSON.parse(listening) as { uws?: string }).uws,
      `v${build.uwsVersion} ${build.packageName}/${build.file}`,
    );
    const healthz = await fetch(`http://127.0.0.1:${server.port}/healthz`);
    assert.deepEqual([healthz.status, await healthz.json()], [200, { status: 'ok' }]);
    const me = await fetch(`http://127.0.0.1:${server.port}/api/v1/me`);
    assert.equal(me.status, 401);
    assert.equal(me.headers.get('content-type'), 'application/problem+json');
    assert.equal(((await me.json()) as { code: string }).code, 'auth.missing_token');
    assert.ok(!server.logs.some((line) => line.includes('Falling back to a NodeJS')), server.logs.join('\n'));
  } finally {
    assert.equal(await stop(server), 0);
    await db.drop();
  }
}

describe('the server on the Node.js runtimes a user may have', { timeout: 300_000 }, () => {
  it(`serves on this Node (${process.version}) with a native build`, async () => {
    await assertServes(process.execPath, currentRuntime());
  });

  it(`on Node ${node22}: exits at once with one line saying what works, or serves where a build loads`, async (t) => {
    const release = await nodeRelease(node22);
    if ('unavailable' in release) {
      t.skip(release.unavailable);
      return;
    }
    const { stdout } = await run(release.node, [
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      "import { currentRuntime } from './src/http/chooseUwsBuild.ts'; console.log(JSON.stringify(currentRuntime()));",
    ]);
    const runtime = JSON.parse(stdout) as Runtime;
    assert.equal(runtime.node, node22);
    const build = chooseUwsBuild(runtime);
    if (!('refused' in build)) {
      await assertServes(release.node, runtime);
      return;
    }

    // 1. The refusal is not overcautious: no pinned package's binary for this ABI loads on this system.
    for (const pkg of uwsPackages) {
      const file = join('node_modules', pkg.name, `${pkg.binaries}uws_linux_x64_${runtime.abi}.node`);
      const loads: boolean = await run(release.node, [
        '-e',
        `require(${JSON.stringify(join(process.cwd(), file))})`,
      ]).then(
        () => true,
        () => false,
      );
      assert.equal(loads, false, `${file} loads on Node ${node22} here, yet the build was refused`);
    }
    // 2. The server exits within seconds, before touching its database, with the one line.
    const db = await createTestDatabase('runtimes');
    try {
      const started = performance.now();
      const { code, out } = await runScript(
        'src/main.ts',
        [],
        { DATABASE_URL: db.url, PORT: '0' },
        release.node,
      );
      const seconds = (performance.now() - started) / 1000;
      assert.equal(code, 1);
      assert.equal(out, `pytake: unsupported runtime: ${build.refused}\n`);
      assert.ok(seconds < 10, `exited after ${seconds.toFixed(1)} s`);
      t.diagnostic(`Node ${node22} refused in ${seconds.toFixed(2)} s: ${out.trim()}`);
    } finally {
      await db.drop();
    }
  });
});
