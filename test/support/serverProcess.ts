import { type ChildProcess, spawn } from 'node:child_process';

export type Server = { child: ChildProcess; port: number; logs: string[]; exited: Promise<number | null> };

/**
 * Starts `src/main.ts` as `npm start` does and waits for its "listening" log line; `node` is another
 * Node.js binary to run it on.
 */
export async function startServer(env: Record<string, string>, node = process.execPath): Promise<Server> {
  const child = spawn(node, ['--import', 'tsx', 'src/main.ts'], {
    env: { ...process.env, PORT: '0', LOG_LEVEL: 'info', CHANNEL_VERIFICATION: 'off', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    let buffered = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        logs.push(line);
        const entry = JSON.parse(line) as { msg?: string; port?: number };
        if (entry.msg?.startsWith('PyTake listening') && entry.port) resolve(entry.port);
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => logs.push(chunk.toString()));
    void exited.then((code) => reject(new Error(`server exited with ${code}:\n${logs.join('\n')}`)));
  });
  return { child, port, logs, exited };
}

export async function stop(server: Server, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  server.child.kill(signal);
  return server.exited;
}
