import { spawn } from 'node:child_process';

/**
 * Runs an operator script as `npm run` would (`node --import tsx scripts/<name>`), collecting its output;
 * `node` is another Node.js binary to run it on.
 */
export function runScript(
  script: string,
  args: string[],
  env: Record<string, string>,
  node = process.execPath,
): Promise<{ code: number | null; out: string }> {
  const child = spawn(node, ['--import', 'tsx', script, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, out })));
}
