/**
 * The one way into uWebSockets.js (a lint rule refuses any other import of its packages). At start-up
 * it loads the native build chooseUwsBuild picks for this Node and C library straight from its `.node`
 * file, bypassing the packages' loaders and their JavaScript fallback; when none fits, the process
 * exits at once with one line saying what works.
 *
 * Typed by v20.30's declarations, the older of the two builds: what they allow exists in both.
 * v20.56 answers getQuery(key) with undefined instead of '' for a missing parameter.
 */

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type * as Uws from '@trufflesuite/uws-js-unofficial';
import { chooseUwsBuild, currentRuntime, type UwsBuild } from './chooseUwsBuild.ts';

export type * from '@trufflesuite/uws-js-unofficial';

const require = createRequire(import.meta.url);

/** The package's folder as Node's resolution finds it (its exports map hides the .node files). */
function packageDir(name: string): string | undefined {
  return (require.resolve.paths(name) ?? [])
    .map((modules) => join(modules, name))
    .find((dir) => existsSync(join(dir, 'package.json')));
}

function refuse(line: string): never {
  console.error(`pytake: ${line}`);
  process.exit(1);
}

function load(): { binding: typeof Uws; build: UwsBuild } {
  const build = chooseUwsBuild(currentRuntime());
  if ('refused' in build) refuse(`unsupported runtime: ${build.refused}`);
  const path = join(packageDir(build.packageName) ?? build.packageName, build.file);
  try {
    return { binding: require(path) as typeof Uws, build };
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    refuse(`cannot load uWebSockets.js v${build.uwsVersion} from ${path} (is npm ci done?): ${reason}`);
  }
}

const { binding, build } = load();

/** The build in use, for the start-up log. */
export const uwsBuild: UwsBuild = build;
export default binding;
