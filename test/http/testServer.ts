import { EventEmitter } from 'node:events';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Env, loadConfig } from '../../src/config/config.ts';
import { createHttpServer, type HttpServer } from '../../src/http/httpServer.ts';
import type { ReadinessChecks } from '../../src/http/readiness.ts';
import type { Route } from '../../src/http/route.ts';
import { createLogger } from '../../src/log/logger.ts';
import { SchemaRegistry, schemasDir } from '../../src/schemas/schemaRegistry.ts';

const fixtureSchemas = fileURLToPath(new URL('./fixtures/schemas/', import.meta.url));

export type LogLine = { level: number; msg: string; requestId?: string; [field: string]: unknown };

/** Every log line the server writes, parsed, with a way to wait for one. */
export class LogCapture {
  readonly lines: LogLine[] = [];
  private readonly events = new EventEmitter();

  write(line: string): void {
    this.lines.push(JSON.parse(line) as LogLine);
    this.events.emit('line');
  }

  async waitFor(predicate: (line: LogLine) => boolean): Promise<LogLine> {
    for (;;) {
      const found = this.lines.find(predicate);
      if (found) return found;
      await new Promise((resolve) => this.events.once('line', resolve));
    }
  }
}

export type TestServer = {
  server: HttpServer;
  port: number;
  logs: LogCapture;
  url: (path: string) => string;
};

/** A real server on a free port, closed when the test ends. */
export async function startTestServer(
  t: TestContext,
  options: { routes: Route[]; readinessChecks?: ReadinessChecks; env?: Env },
): Promise<TestServer> {
  const logs = new LogCapture();
  const server = createHttpServer({
    config: loadConfig({ NODE_ENV: 'test', HOST: '127.0.0.1', PORT: '0', ...options.env }),
    logger: createLogger('info', logs),
    registry: new SchemaRegistry([schemasDir, fixtureSchemas]),
    routes: options.routes,
    ...(options.readinessChecks ? { readinessChecks: options.readinessChecks } : {}),
  });
  const port = await server.listen();
  t.after(() => server.close());
  return { server, port, logs, url: (path) => `http://127.0.0.1:${port}${path}` };
}
