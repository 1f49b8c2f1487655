/**
 * bench:fanout's ceiling: a bare uWS WebSocket server (the same uWebSockets.js as the gateway) that
 * subscribes each socket to the topic named in its URL (`/ws?topic=org-3`) and, when told, publishes
 * frames of a given size on the topics round-robin with native `app.publish`, as fast as the clients
 * take them. Flow control: every few rounds it reads each socket's unsent data and pauses while one
 * has more than 512 KiB, so no frame is dropped and none waits long in uWS's buffers.
 * Run as `node --import tsx scripts/bench/fanout/bareServer.ts`; driven over the IPC channel.
 */
import uWS, { type WebSocket } from '../../../src/http/uws.ts';
import { epochMs, type FromBare, marker, type ToBare } from './protocol.ts';

type Data = { topic: string };

const sockets = new Set<WebSocket<Data>>();
const send = (message: FromBare) => process.send?.(message);
const app = uWS.App();

app.ws<Data>('/ws', {
  compression: uWS.DISABLED,
  maxPayloadLength: 64 * 1024,
  idleTimeout: 120,
  // Far above the pause threshold: uWS never skips a frame for a socket between two checks.
  maxBackpressure: 256 * 1024 * 1024,
  upgrade: (res, req, context) => {
    res.upgrade<Data>(
      { topic: req.getQuery('topic') ?? 'org-0' },
      req.getHeader('sec-websocket-key'),
      req.getHeader('sec-websocket-protocol'),
      req.getHeader('sec-websocket-extensions'),
      context,
    );
  },
  open: (ws) => {
    ws.subscribe(ws.getUserData().topic);
    sockets.add(ws);
  },
  close: (ws) => {
    sockets.delete(ws);
  },
});

const pauseBytes = 512 * 1024;
const roundsPerCheck = 8;

/** A frame of `bytes` bytes in the shape of an inbox delta, carrying message `seq`'s marker. */
function frame(seq: number, bytes: number): string {
  const head = `{"op":"delta","topic":"inbox","position":"${seq}","event":{"type":"MessageReceived","data":{"text":"${marker(seq, epochMs())}","padding":"`;
  const tail = '"},"occurredAt":"2026-11-26T12:00:00.000Z"}}';
  return head + 'x'.repeat(Math.max(0, bytes - head.length - tail.length)) + tail;
}

function congested(): boolean {
  for (const ws of sockets) if (ws.getBufferedAmount() > pauseBytes) return true;
  return false;
}

function publish({ first, seconds, organizations, frameBytes }: Extract<ToBare, { op: 'publish' }>) {
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let seq = first;
  let paused = 0;
  const pump = () => {
    // About 5 ms of publishing per turn, so that uWS gets to write to the sockets in between.
    const turnEnds = performance.now() + 5;
    while (performance.now() < Math.min(turnEnds, deadline)) {
      if (congested()) {
        paused += 1;
        setTimeout(pump, 1);
        return;
      }
      for (let round = 0; round < roundsPerCheck; round += 1) {
        for (let topic = 0; topic < organizations; topic += 1) {
          app.publish(`org-${seq % organizations}`, frame(seq, frameBytes), false);
          seq += 1;
        }
      }
    }
    if (performance.now() < deadline) setImmediate(pump);
    else send({ op: 'published', count: seq - first, seconds: (performance.now() - started) / 1000, paused });
  };
  pump();
}

process.on('message', (message: ToBare) => {
  if (message.op === 'publish') publish(message);
});
process.on('disconnect', () => process.exit(0));

app.listen('127.0.0.1', 0, (socket) => {
  if (!socket) {
    console.error('bare uWS server: cannot listen');
    process.exit(1);
  }
  send({ op: 'listening', port: uWS.us_socket_local_port(socket) });
});
