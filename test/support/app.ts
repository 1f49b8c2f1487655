import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { type App, startApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/config.ts';
import { createLogger } from '../../src/log/logger.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';

// biome-ignore lint/suspicious/noExplicitAny: tests read JSON bodies field by field and assert on them
export type Response = { status: number; body: any; headers: Headers };
export type TestApp = {
  app: App;
  db: TestDatabase;
  /** Every log line the app wrote, for tests that check what must never be logged. */
  logs: string[];
  request(
    method: string,
    path: string,
    options?: { token?: string; body?: unknown; raw?: string | Buffer; headers?: Record<string, string> },
  ): Promise<Response>;
  close(): Promise<void>;
};

/**
 * The real app on a fresh database (or `db`, when a test prepared one) and a free port, logging (at
 * debug) into memory.
 */
export async function startTestApp(
  label: string,
  env: Record<string, string> = {},
  existing?: TestDatabase,
): Promise<TestApp> {
  const db = existing ?? (await createTestDatabase(label));
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(chunk.toString());
      done();
    },
  });
  const config = loadConfig({
    DATABASE_URL: db.url,
    HOST: '127.0.0.1',
    PORT: '0',
    DATA_DIR: mkdtempSync(join(tmpdir(), `pytake-${label}-`)),
    // No Graph API to ask: tests connect numbers freely unless they test the verification itself.
    CHANNEL_VERIFICATION: 'off',
    ...env,
  });
  const app = await startApp(config, createLogger('debug', sink));
  const base = `http://127.0.0.1:${app.port}`;
  return {
    app,
    db,
    logs,
    request: requester(base),
    async close() {
      await app.close();
      await db.drop();
    },
  };
}

/** Requests to a server at `base`, JSON in and out (text when the answer is not JSON). */
export function requester(base: string): TestApp['request'] {
  return async (method, path, options = {}) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    let body: string | Buffer | undefined;
    if (options.body !== undefined || options.raw !== undefined) {
      headers['content-type'] ??= 'application/json';
      body = options.raw ?? JSON.stringify(options.body);
    }
    const response = await fetch(base + path, { method, headers, body });
    const text = await response.text();
    return {
      status: response.status,
      headers: response.headers,
      body:
        text && response.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text || undefined,
    };
  };
}
