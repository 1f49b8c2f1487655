/**
 * bench:fanout's client process: opens thousands of agent-console WebSockets (the `ws` library),
 * subscribes them, and for each run counts and times every delta frame that carries a bench marker.
 * A separate process, so that the server under test does not pay for its clients; it is told what
 * to do over the IPC channel (protocol.ts). Run as `node --import tsx scripts/bench/fanout/clients.ts`.
 *
 * Frames are not parsed as JSON: the marker is found in the raw bytes, which keeps this process's
 * cost per frame small (it shares the machine with the server).
 */
import WebSocket from 'ws';
import { percentile } from '../measure.ts';
import {
  type ConnectionPlan,
  epochMs,
  type FromClients,
  type Plan,
  type RunResult,
  type RunSpec,
  type ToClients,
} from './protocol.ts';

type Connection = {
  plan: ConnectionPlan;
  ws: WebSocket;
  conversations: Set<number>;
  /** Per message of the run in this connection's organization: frames received, by topic kind. */
  inbox: Uint8Array;
  conversation: Uint8Array;
  /** Count mode: frames received. */
  count: number;
  pendingSubscriptions: number;
  onSubscribed?: () => void;
};

const deltaPrefix = Buffer.from('{"op":"delta","topic":"');
const inboxPrefix = Buffer.from('{"op":"delta","topic":"inbox"');
const markerBytes = Buffer.from('bench#');
const [zero, nine, dot, at] = ['0', '9', '.', '@'].map((c) => c.charCodeAt(0)) as [
  number,
  number,
  number,
  number,
];

const send = (message: FromClients) => process.send?.(message);

let plan: Plan | undefined;
const connections: Connection[] = [];
const errors: string[] = [];
const closed: string[] = [];

type Run = {
  spec: RunSpec;
  published: number | undefined;
  expected: number;
  delivered: number;
  duplicates: number;
  unexpected: number;
  stray: number;
  latencies: Float64Array;
  lastAt: number;
  bytes: { inbox: number; inboxFrames: number; conversation: number; conversationFrames: number };
  busiestSecond: number;
};
let run: Run | undefined;

function startsWith(data: Buffer, prefix: Buffer): boolean {
  return data.length >= prefix.length && data.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;
}

/** The marker's sequence number and send time, or null when the frame carries none. */
function readMarker(data: Buffer): { seq: number; sentAt: number } | null {
  const start = data.indexOf(markerBytes);
  if (start === -1) return null;
  let i = start + markerBytes.length;
  let seq = 0;
  for (; i < data.length && data[i] !== at; i += 1) seq = seq * 10 + ((data[i] as number) - zero);
  const from = i + 1;
  for (i = from; i < data.length; i += 1) {
    const c = data[i] as number;
    if (c !== dot && (c < zero || c > nine)) break;
  }
  return { seq, sentAt: Number(data.toString('latin1', from, i)) };
}

function onFrame(connection: Connection, data: Buffer): void {
  if (!startsWith(data, deltaPrefix)) {
    control(connection, JSON.parse(data.toString('utf8')));
    return;
  }
  const r = run;
  if (!r) return;
  const found = readMarker(data);
  if (!found) {
    r.unexpected += 1;
    return;
  }
  const now = epochMs();
  const isInbox = startsWith(data, inboxPrefix);
  if (isInbox) {
    r.bytes.inbox += data.length;
    r.bytes.inboxFrames += 1;
  } else {
    r.bytes.conversation += data.length;
    r.bytes.conversationFrames += 1;
  }
  const { seq, sentAt } = found;
  const { first, count, mode } = r.spec;
  if (seq < first || seq >= first + count) {
    r.stray += 1;
    return;
  }
  const organizations = plan?.organizations ?? 1;
  if (seq % organizations !== connection.plan.organization) {
    r.unexpected += 1;
    return;
  }
  let firstTime = true;
  if (mode === 'exact') {
    const hits = isInbox ? connection.inbox : connection.conversation;
    const index = Math.floor((seq - first) / organizations);
    const before = hits[index] ?? 0;
    if (before < 255) hits[index] = before + 1;
    firstTime = before === 0;
  } else {
    connection.count += 1;
  }
  if (!firstTime) {
    r.duplicates += 1;
    return;
  }
  if (r.delivered < r.latencies.length) r.latencies[r.delivered] = now - sentAt;
  r.delivered += 1;
  r.lastAt = now;
}

function control(
  connection: Connection,
  frame: { op: string; topic?: string; code?: string; message?: string },
) {
  if (frame.op === 'subscribed' || (frame.op === 'error' && frame.topic !== undefined)) {
    if (frame.op === 'error' && errors.length < 20)
      errors.push(`${frame.topic}: ${frame.code} ${frame.message}`);
    connection.pendingSubscriptions -= 1;
    if (connection.pendingSubscriptions === 0) connection.onSubscribed?.();
  } else if (frame.op === 'error' && errors.length < 20) {
    errors.push(`${frame.code}: ${frame.message}`);
  }
}

/** Opens one socket and subscribes its topics; resolves once each is answered (or it failed). */
function open(connectionPlan: ConnectionPlan, conversations: Plan['conversations']): Promise<boolean> {
  return new Promise((resolve) => {
    const ws = new WebSocket(connectionPlan.url, connectionPlan.protocols, { perMessageDeflate: false });
    const connection: Connection = {
      plan: connectionPlan,
      ws,
      conversations: new Set(connectionPlan.conversations),
      inbox: new Uint8Array(0),
      conversation: new Uint8Array(0),
      count: 0,
      pendingSubscriptions: 0,
    };
    let settled = false;
    const settle = (ok: boolean) => {
      if (settled) return;
      settled = true;
      if (ok) connections.push(connection);
      resolve(ok);
    };
    ws.on('message', (data: Buffer, isBinary) => {
      if (!isBinary) onFrame(connection, data);
    });
    ws.on('close', (code, reason) => {
      if (settled && closed.length < 1000) closed.push(`${code} ${reason.toString()}`);
      else if (!settled && errors.length < 20)
        errors.push(`closed before subscribed: ${code} ${reason.toString()}`);
      settle(false);
    });
    ws.on('error', (error) => {
      if (errors.length < 20) errors.push(error.message);
      settle(false);
    });
    ws.on('open', () => {
      if (!connectionPlan.sendSubscribe) return settle(true);
      const topics = [
        ...(connectionPlan.inbox === 'none' ? [] : ['inbox']),
        ...connectionPlan.conversations.map((index) => `conversation:${conversations[index]?.id}`),
      ];
      if (topics.length === 0) return settle(true);
      connection.pendingSubscriptions = topics.length;
      connection.onSubscribed = () => settle(true);
      for (const topic of topics) ws.send(JSON.stringify({ op: 'subscribe', topic }));
    });
  });
}

async function connect(given: Plan): Promise<void> {
  plan = given;
  const started = performance.now();
  let next = 0;
  let failed = 0;
  const worker = async () => {
    while (next < given.connections.length) {
      const connectionPlan = given.connections[next++] as ConnectionPlan;
      if (!(await open(connectionPlan, given.conversations))) failed += 1;
    }
  };
  await Promise.all(Array.from({ length: given.concurrency }, worker));
  const subscriptions = connections.reduce(
    (sum, c) => sum + (c.plan.inbox === 'none' ? 0 : 1) + c.plan.conversations.length,
    0,
  );
  send({
    op: 'connected',
    opened: connections.length,
    failed,
    subscriptions,
    seconds: (performance.now() - started) / 1000,
    errors,
  });
}

/** Whether `connection` should receive message `seq` on the inbox topic, and on a conversation topic. */
function expects(connection: Connection, seq: number): [boolean, boolean] {
  const conversations = plan?.conversations ?? [];
  const index = seq % conversations.length;
  const conversation = conversations[index];
  if (!conversation || conversation.organization !== connection.plan.organization) return [false, false];
  const { inbox, userId, queueIds } = connection.plan;
  const inInbox =
    inbox === 'everything' ||
    (inbox === 'restricted' &&
      (conversation.assigneeId === userId ||
        (conversation.queueId !== null && queueIds.includes(conversation.queueId))));
  return [inInbox, connection.conversations.has(index)];
}

/** The first message of the run at or after `first` that goes to `organization`. */
function firstSeqOf(organization: number, first: number): number {
  const organizations = plan?.organizations ?? 1;
  return first + ((((organization - first) % organizations) + organizations) % organizations);
}

function expectedCount(spec: RunSpec, count: number): number {
  const organizations = plan?.organizations ?? 1;
  let expected = 0;
  for (const connection of connections) {
    const from = firstSeqOf(connection.plan.organization, spec.first);
    for (let seq = from; seq < spec.first + count; seq += organizations) {
      const [inbox, conversation] = expects(connection, seq);
      expected += Number(inbox) + Number(conversation);
    }
  }
  return expected;
}

function startRun(spec: RunSpec): void {
  const organizations = plan?.organizations ?? 1;
  const perConnection = spec.mode === 'exact' ? Math.ceil(spec.count / organizations) + 1 : 0;
  for (const connection of connections) {
    connection.inbox = new Uint8Array(perConnection);
    connection.conversation = new Uint8Array(perConnection);
    connection.count = 0;
  }
  closed.length = 0;
  const expected = spec.mode === 'exact' ? expectedCount(spec, spec.count) : Number.NaN;
  run = {
    spec,
    published: spec.mode === 'exact' ? spec.count : undefined,
    expected,
    delivered: 0,
    duplicates: 0,
    unexpected: 0,
    stray: 0,
    // Count mode: room for ~4M latencies; those past it are counted, not timed.
    latencies: new Float64Array(spec.mode === 'exact' ? expected : 4_000_000),
    lastAt: spec.startAt,
    bytes: { inbox: 0, inboxFrames: 0, conversation: 0, conversationFrames: 0 },
    busiestSecond: 0,
  };
  let lastDelivered = -1;
  let quietSince = epochMs();
  let second = { at: epochMs(), utilization: performance.eventLoopUtilization() };
  const timer = setInterval(() => {
    const r = run;
    if (!r) return clearInterval(timer);
    const now = epochMs();
    if (now - second.at >= 1000) {
      const utilization = performance.eventLoopUtilization();
      r.busiestSecond = Math.max(
        r.busiestSecond,
        performance.eventLoopUtilization(utilization, second.utilization).utilization,
      );
      second = { at: now, utilization };
    }
    if (r.delivered !== lastDelivered) {
      lastDelivered = r.delivered;
      quietSince = now;
    }
    const complete = r.published !== undefined && r.delivered >= r.expected;
    const quiet = now - quietSince > spec.quietMs;
    if (now >= spec.notBefore && r.published !== undefined && (complete || quiet)) {
      clearInterval(timer);
      finishRun(r);
    }
  }, 50);
}

function finishRun(r: Run): void {
  run = undefined;
  const { spec } = r;
  const count = r.published ?? 0;
  let lost = 0;
  let unexpected = r.unexpected;
  const organizations = plan?.organizations ?? 1;
  if (spec.mode === 'exact') {
    for (const connection of connections) {
      const from = firstSeqOf(connection.plan.organization, spec.first);
      for (let seq = from; seq < spec.first + count; seq += organizations) {
        const index = Math.floor((seq - spec.first) / organizations);
        const [inbox, conversation] = expects(connection, seq);
        const got = [connection.inbox[index] ?? 0, connection.conversation[index] ?? 0];
        [inbox, conversation].forEach((wanted, kind) => {
          if (wanted && got[kind] === 0) lost += 1;
          if (!wanted && (got[kind] ?? 0) > 0) unexpected += 1;
        });
      }
    }
  } else {
    lost = Math.max(0, r.expected - r.delivered);
  }
  const timed = r.latencies.subarray(0, Math.min(r.delivered, r.latencies.length)).sort();
  const result: RunResult = {
    op: 'result',
    expected: r.expected,
    delivered: r.delivered,
    lost,
    duplicates: r.duplicates,
    unexpected,
    stray: r.stray,
    lastAt: r.lastAt,
    p50Ms: percentile(timed, 50),
    p99Ms: percentile(timed, 99),
    p999Ms: percentile(timed, 99.9),
    maxMs: timed.length > 0 ? (timed[timed.length - 1] as number) : Number.NaN,
    bytesPerFrame: {
      inbox: r.bytes.inbox / Math.max(1, r.bytes.inboxFrames),
      conversation: r.bytes.conversation / Math.max(1, r.bytes.conversationFrames),
    },
    closed: [...closed],
    busiestSecond: r.busiestSecond,
  };
  for (const connection of connections) {
    connection.inbox = new Uint8Array(0);
    connection.conversation = new Uint8Array(0);
  }
  send(result);
}

process.on('message', (message: ToClients) => {
  switch (message.op) {
    case 'connect':
      connect(message.plan).catch((error: unknown) => send({ op: 'failed', error: String(error) }));
      return;
    case 'run':
      startRun(message.run);
      return;
    case 'published':
      if (run) {
        run.published = message.count;
        run.expected = expectedCount(run.spec, message.count);
      }
      return;
    case 'exit':
      for (const connection of connections) connection.ws.terminate();
      process.disconnect?.();
      return;
  }
});
process.on('disconnect', () => process.exit(0));
