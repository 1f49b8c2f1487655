import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import type { Route } from '../../src/http/route.ts';
import { RawConnection } from './rawHttp.ts';
import { startTestServer } from './testServer.ts';

/** A handler that tells the test it started, then waits for the test to let it finish. */
function gatedRoute(path: string) {
  let entered!: (signal: AbortSignal) => void;
  let release!: () => void;
  const started = new Promise<AbortSignal>((resolve) => {
    entered = resolve;
  });
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const route: Route = {
    access: 'public',
    method: 'GET',
    path,
    handler: async (req) => {
      entered(req.signal);
      await Promise.race([released, new Promise((resolve) => req.signal.addEventListener('abort', resolve))]);
      return { status: 200, body: { done: true } };
    },
  };
  return { route, started, release };
}

const refusesConnections = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });

test('close() drains an in-flight request while refusing new ones', async (t) => {
  const slow = gatedRoute('/slow');
  const { server, port, logs } = await startTestServer(t, { routes: [slow.route] });

  // A keep-alive connection opened before the shutdown, idle while it starts.
  const idle = await RawConnection.open(port);
  t.after(() => idle.destroy());
  await idle.write('GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n');
  assert.equal((await idle.readResponse()).status, 200);

  const inFlight = await RawConnection.open(port);
  t.after(() => inFlight.destroy());
  await inFlight.write('GET /slow HTTP/1.1\r\nHost: test\r\n\r\n');
  await slow.started;

  let closed = false;
  const closing = server.close().then(() => {
    closed = true;
  });
  assert.equal(server.shuttingDown, true);

  await idle.write('GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n');
  const refused = await idle.readResponse();
  assert.equal(refused.status, 503);
  assert.equal(refused.headers.connection, 'close');
  assert.equal((JSON.parse(refused.body) as { code: string }).code, 'http.shutting_down');
  await idle.closed;
  assert.equal(await refusesConnections(port), true);
  assert.equal(closed, false, 'close() resolved while a request was in flight');

  slow.release();
  const finished = await inFlight.readResponse();
  assert.equal(finished.status, 200);
  assert.deepEqual(JSON.parse(finished.body), { done: true });
  assert.equal(finished.headers.connection, 'close');
  await closing;
  await inFlight.closed;
  assert.ok(logs.lines.some((line) => line.msg === 'http server draining' && line.inFlight === 1));
});

test('close() gives up on requests still running after SHUTDOWN_TIMEOUT_MS', async (t) => {
  const stuck = gatedRoute('/stuck');
  const { server, port, logs } = await startTestServer(t, {
    routes: [stuck.route],
    env: { SHUTDOWN_TIMEOUT_MS: '50' },
  });
  const connection = await RawConnection.open(port);
  await connection.write('GET /stuck HTTP/1.1\r\nHost: test\r\n\r\n');
  const signal = await stuck.started;

  await server.close();
  await connection.closed;
  assert.equal(signal.aborted, true, 'the handler was not told that its client is gone');
  assert.ok(logs.lines.some((line) => line.level === 40 && line.inFlight === 1));
});
