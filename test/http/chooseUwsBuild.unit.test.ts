import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { chooseUwsBuild, type Runtime, uwsPackages } from '../../src/http/chooseUwsBuild.ts';

const official = '@btc-vision/uwebsockets.js';
const trufflesuite = '@trufflesuite/uws-js-unofficial';
const nodes = {
  20: ['20.20.2', 115],
  22: ['22.23.5', 127],
  24: ['24.22.3', 137],
  25: ['25.9.0', 141],
} as const;

const linux = (major: keyof typeof nodes, glibc: string | undefined, arch = 'x64'): Runtime => ({
  node: nodes[major][0],
  abi: nodes[major][1],
  platform: 'linux',
  arch,
  glibc,
});

describe('chooseUwsBuild', () => {
  it('takes the trufflesuite v20.30 build for Node 20 wherever glibc is 2.28 or newer', () => {
    for (const glibc of ['2.28', '2.31', '2.36', '2.38', '2.41']) {
      assert.deepEqual(chooseUwsBuild(linux(20, glibc)), {
        packageName: trufflesuite,
        uwsVersion: '20.30.0',
        file: 'binaries/uws_linux_x64_115.node',
      });
    }
  });

  it('takes the official v20.56 build for Node 22, 24 and 25 where glibc is 2.38 or newer', () => {
    for (const major of [22, 24, 25] as const) {
      for (const glibc of ['2.38', '2.39', '2.41', '3.0']) {
        assert.deepEqual(chooseUwsBuild(linux(major, glibc)), {
          packageName: official,
          uwsVersion: '20.56.0',
          file: `uws_linux_x64_${nodes[major][1]}.node`,
        });
      }
    }
    assert.deepEqual(chooseUwsBuild(linux(24, '2.41', 'arm64')), {
      packageName: official,
      uwsVersion: '20.56.0',
      file: 'uws_linux_arm64_137.node',
    });
  });

  it('refuses Node 22, 24 and 25 on an older glibc, saying what works', () => {
    assert.deepEqual(chooseUwsBuild(linux(22, '2.36')), {
      refused:
        'Node 22.23.5 (ABI 127) on linux x64 with glibc 2.36 has no native uWebSockets.js build; ' +
        'use Node 20 on this system, or Node 22, 24 or 25 on a system with glibc ≥ 2.38',
    });
    for (const major of [24, 25] as const) {
      assert.ok('refused' in chooseUwsBuild(linux(major, '2.37')));
    }
  });

  it('compares glibc versions as numbers, not text', () => {
    assert.match(
      (chooseUwsBuild(linux(20, '2.4')) as { refused: string }).refused,
      /glibc 2\.4 has no native .*; use Node 20 on a system with glibc ≥ 2\.28, or Node 22, 24 or 25 on a system with glibc ≥ 2\.38$/,
    );
  });

  it('refuses Linux without glibc (musl)', () => {
    assert.deepEqual(chooseUwsBuild(linux(20, undefined)), {
      refused:
        'Node 20.20.2 (ABI 115) on linux x64 without glibc has no native uWebSockets.js build; ' +
        'use Node 20 on a system with glibc ≥ 2.28, or Node 22, 24 or 25 on a system with glibc ≥ 2.38',
    });
  });

  it('refuses a Node with no build (23, 26) and names the ones that work here', () => {
    for (const [node, abi] of [
      ['23.11.0', 131],
      ['26.12.1', 147],
    ] as const) {
      assert.deepEqual(chooseUwsBuild({ node, abi, platform: 'linux', arch: 'x64', glibc: '2.41' }), {
        refused: `Node ${node} (ABI ${abi}) on linux x64 with glibc 2.41 has no native uWebSockets.js build; use Node 20, 22, 24 or 25 on this system`,
      });
    }
  });

  it('needs no glibc on macOS and Windows', () => {
    assert.deepEqual(
      chooseUwsBuild({ node: '22.23.5', abi: 127, platform: 'darwin', arch: 'arm64', glibc: undefined }),
      { packageName: official, uwsVersion: '20.56.0', file: 'uws_darwin_arm64_127.node' },
    );
    assert.deepEqual(
      chooseUwsBuild({ node: '20.20.2', abi: 115, platform: 'win32', arch: 'x64', glibc: undefined }),
      { packageName: trufflesuite, uwsVersion: '20.30.0', file: 'binaries/uws_win32_x64_115.node' },
    );
  });

  it('refuses what only one package ships, or none does', () => {
    assert.deepEqual(chooseUwsBuild(linux(22, '2.41', 'arm')), {
      refused:
        'Node 22.23.5 (ABI 127) on linux arm with glibc 2.41 has no native uWebSockets.js build; use Node 20 on this system',
    });
    assert.deepEqual(
      chooseUwsBuild({ node: '22.23.5', abi: 127, platform: 'freebsd', arch: 'x64', glibc: undefined }),
      {
        refused:
          'Node 22.23.5 (ABI 127) on freebsd x64 has no native uWebSockets.js build; uWebSockets.js has no build for this platform',
      },
    );
  });
});

describe('uwsPackages', () => {
  const abis = { 20: 115, 22: 127, 24: 137, 25: 141 } as const;
  for (const pkg of uwsPackages) {
    const dir = new URL(`../../node_modules/${pkg.name}/`, import.meta.url);

    it(`says what ${pkg.name} (as installed) ships`, () => {
      const { version } = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as {
        version: string;
      };
      assert.ok(version.startsWith(pkg.uwsVersion), `${pkg.name} ${version} is uWS v${pkg.uwsVersion}`);
      // The GLIBC_x.y symbol versions its Linux binaries need, as readelf -V lists them, as x * 1000 + y.
      const needed: number[] = [];
      for (const target of pkg.targets) {
        for (const node of pkg.nodes) {
          const file = new URL(`${pkg.binaries}uws_${target}_${abis[node]}.node`, dir);
          assert.ok(existsSync(file), `${pkg.name} ships ${file.pathname}`);
          if (!target.startsWith('linux_')) continue;
          const versions = readFileSync(file, 'latin1').matchAll(/GLIBC_(\d+)\.(\d+)/g);
          needed.push(...[...versions].map(([, major, minor]) => Number(major) * 1000 + Number(minor)));
        }
      }
      const [major = 0, minor = 0] = pkg.glibc.split('.').map(Number);
      assert.equal(Math.max(...needed), major * 1000 + minor, `its Linux binaries need glibc ${pkg.glibc}`);
    });
  }
});
