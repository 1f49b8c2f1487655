/**
 * What bench:fanout's processes tell each other (over the Node IPC channel), and the marker every
 * measured message carries: `bench#<seq>@<send time>`, the send time in ms since the epoch (with
 * µs), read by the client process from each frame to count it and time it.
 */

/** One WebSocket the client process opens, and what it should receive. */
export type ConnectionPlan = {
  url: string;
  protocols: string[];
  /** Index of the organization (the bare server: of the topic) it belongs to. */
  organization: number;
  /** `everything`: the organization's whole inbox; `restricted`: own and queues' conversations. */
  inbox: 'everything' | 'restricted' | 'none';
  userId: string;
  queueIds: string[];
  /** Indexes into Plan.conversations of the `conversation:<id>` topics it subscribes to. */
  conversations: number[];
  /** False against the bare server, which subscribes each socket by its URL. */
  sendSubscribe: boolean;
};

export type ConversationPlan = {
  id: string;
  organization: number;
  assigneeId: string | null;
  queueId: string | null;
};

/**
 * Message `seq` goes to conversation `seq % conversations.length`; conversations are listed
 * round-robin over the organizations, so its organization is `seq % organizations`.
 */
export type Plan = {
  connections: ConnectionPlan[];
  conversations: ConversationPlan[];
  organizations: number;
  /** Upgrades in flight at once while connecting. */
  concurrency: number;
};

export type RunSpec = {
  /** Messages `first` … `first + count - 1`. */
  first: number;
  count: number;
  /** When the first message is (scheduled to be) sent, ms since the epoch. */
  startAt: number;
  /** `exact`: every (connection, message) pair is tracked; `count`: deliveries are only counted. */
  mode: 'exact' | 'count';
  /** The run ends once every expected frame has arrived, or nothing has arrived for this long. */
  quietMs: number;
  /** Nothing is awaited before this (ms since the epoch): the last scheduled send. */
  notBefore: number;
};

export type ToClients =
  | { op: 'connect'; plan: Plan }
  | { op: 'run'; run: RunSpec }
  /** Count mode: how many messages were published in the end (the bare server decides). */
  | { op: 'published'; count: number }
  | { op: 'exit' };

export type Connected = {
  op: 'connected';
  opened: number;
  failed: number;
  subscriptions: number;
  seconds: number;
  errors: string[];
};

export type RunResult = {
  op: 'result';
  expected: number;
  /** Distinct (connection, topic, message) frames received. */
  delivered: number;
  lost: number;
  duplicates: number;
  /** Frames for a message the connection should not have had (another org, not in its view). */
  unexpected: number;
  /** Frames of messages outside the run (a late one from the run before). */
  stray: number;
  lastAt: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  bytesPerFrame: { inbox: number; conversation: number };
  closed: string[];
  /**
   * The client process's event-loop utilization (0–1) in its busiest second of the run: near 1, it
   * was reading frames as fast as it could and its latencies are partly its own queueing.
   */
  busiestSecond: number;
};

export type FromClients = Connected | RunResult | { op: 'failed'; error: string };

export type ToBare = {
  op: 'publish';
  first: number;
  seconds: number;
  organizations: number;
  frameBytes: number;
};
export type FromBare =
  | { op: 'listening'; port: number }
  | { op: 'published'; count: number; seconds: number; paused: number };

/** ms since the epoch with µs, comparable between processes on one machine. */
export const epochMs = (): number => performance.timeOrigin + performance.now();

export const marker = (seq: number, at: number): string => `bench#${seq}@${at.toFixed(3)}`;
