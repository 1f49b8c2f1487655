import { Counter, Histogram, type Registry } from 'prom-client';
import { type DatabasePool, sql } from 'slonik';
import type { ConversationActors } from '../conversation/conversationActor.ts';
import type { ConversationCommand } from '../conversation/conversationCommands.ts';
import type { OutboundContent } from '../conversation/messageContent.ts';
import type { LeaderLock } from '../db/leaderLock.ts';
import type { Logger } from '../log/logger.ts';
import type { ProjectionRunner } from '../projection/projectionRunner.ts';
import type { Channel, ChannelDirectory } from './channelDirectory.ts';
import type { GraphClient, SendOutcome } from './graphClient.ts';
import { TokenBuckets } from './tokenBucket.ts';

export type OutboundSenderOptions = {
  ratePerSecond: number;
  pairIntervalMs: number;
  pairBurst: number;
  maxAttempts: number;
  retryBaseMs: number;
  inDoubtGraceMs: number;
  /** Messages sending at once (each from another conversation). */
  concurrency: number;
};

export type OutboundSenderDeps = {
  pool: DatabasePool;
  conversations: ConversationActors;
  directory: ChannelDirectory;
  graph: GraphClient;
  projections: ProjectionRunner;
  leader: LeaderLock;
  logger: Logger;
  metricsRegistry: Registry;
};

type PendingRow = {
  conversation_id: string;
  message_id: string;
  organization_id: string;
  channel_id: string;
  recipient: string;
  content: OutboundContent;
  reply_to: string | null;
  attempts: number;
  attempt_started_at: Date | null;
};

const pollMs = 1000;
const maxRetryMs = 5 * 60_000;
/** A row the queue still shows after its send changed nothing (the projection lags): look again later. */
const staleRowPauseMs = 500;
/** Meta's throughput and pair limits: retried without counting against OUTBOUND_MAX_ATTEMPTS... */
const throttleCodes = new Set([4, 80007, 130429, 131056]);
/** ...up to this many times that budget, so a number throttled for hours still ends its messages. */
const throttledAttemptsFactor = 5;

/**
 * Sends queued messages through the Graph API. Only the node holding the workers' leader lock sends.
 * Per conversation, one message at a time in queue order: the next goes once the previous is
 * accepted or has failed for good. Per number a token bucket, per customer Meta's pair rate; a
 * message whose number or customer must wait takes no sending slot, so one slow number or one big
 * campaign does not hold up the others.
 *
 * The guarantee across crashes: every queued message is sent at least once, and twice only when
 * Meta accepted it, the process died (or the call timed out) before that was recorded, and no status
 * webhook for it arrived within OUTBOUND_IN_DOUBT_GRACE_SECONDS. Each attempt is recorded before the
 * call (MessageSendAttempted) and names the message in `biz_opaque_callback_data`, which Meta echoes
 * in status webhooks: an attempt whose fate is unknown waits for that proof before sending again.
 */
export class OutboundSender {
  private readonly sending = new Set<string>();
  /** Attempts this process started: an open attempt not in here was left by a crash. */
  private readonly ownAttempts = new Set<string>();
  private readonly notBefore = new Map<string, number>();
  private readonly buckets = new TokenBuckets();
  private running = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private woken = false;
  private readonly metrics;

  constructor(
    private readonly deps: OutboundSenderDeps,
    private readonly options: OutboundSenderOptions,
  ) {
    this.metrics = {
      outcomes: new Counter({
        name: 'outbound_messages_total',
        help: 'Graph API sends by outcome: sent, failed (for good), deferred (retried later)',
        labelNames: ['outcome'],
        registers: [deps.metricsRegistry],
      }),
      sendSeconds: new Histogram({
        name: 'outbound_graph_call_seconds',
        help: 'Duration of Graph API send calls',
        buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
        registers: [deps.metricsRegistry],
      }),
    };
  }

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  /** New work may be there (the outbound projection moved). */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  /**
   * Stops taking new messages and lets calls in flight finish (each bounded by GRAPH_TIMEOUT_MS) and
   * record their outcome: cutting them short would leave them in doubt.
   */
  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      const wakeAt = (await this.deps.leader.tryAcquire())
        ? await this.dispatch().catch((error: unknown) => {
            this.deps.logger.error({ err: error }, 'outbound sender cycle failed');
            return undefined;
          })
        : undefined;
      await this.idle(wakeAt === undefined ? pollMs : Math.min(pollMs, Math.max(0, wakeAt - Date.now())));
    }
    while (this.sending.size > 0) await pause(20);
  }

  /**
   * Starts a send for each conversation whose head message is due and whose number and customer
   * have a token; answers when to look again. Due heads come oldest first, a bounded number at a time.
   */
  private async dispatch(): Promise<number | undefined> {
    const free = this.options.concurrency - this.sending.size;
    if (free <= 0) return undefined;
    const heads = (await this.deps.pool.any(sql.unsafe`
      SELECT p.conversation_id, p.message_id, p.organization_id, p.channel_id, p.recipient, p.content,
             p.reply_to, p.attempts, p.attempt_started_at
        FROM outbound.pending p
       WHERE p.next_attempt_at <= now()
         AND NOT EXISTS (SELECT 1 FROM outbound.pending q
                          WHERE q.conversation_id = p.conversation_id AND q.revision < p.revision)
       ORDER BY p.next_attempt_at
       LIMIT ${free + this.sending.size}`)) as readonly PendingRow[];
    const now = Date.now();
    let wakeAt: number | undefined;
    const later = (at: number) => {
      wakeAt = wakeAt === undefined ? at : Math.min(wakeAt, at);
    };
    for (const row of heads) {
      if (this.sending.size >= this.options.concurrency || !this.running) break;
      if (this.sending.has(row.conversation_id)) continue;
      const pausedUntil = this.notBefore.get(row.message_id) ?? 0;
      if (pausedUntil > now) {
        later(pausedUntil);
        continue;
      }
      this.notBefore.delete(row.message_id);
      if (row.attempt_started_at !== null && !this.ownAttempts.has(row.message_id)) {
        const proofDeadline = row.attempt_started_at.getTime() + this.options.inDoubtGraceMs;
        if (proofDeadline > now) {
          later(proofDeadline);
          continue;
        }
        this.deps.logger.warn(
          { messageId: row.message_id, conversationId: row.conversation_id },
          'no proof Meta received an attempt interrupted by a crash: sending again',
        );
      }
      const channel = await this.deps.directory.byChannelId(row.channel_id);
      if (channel) {
        const wait = this.tokenWait(channel, row.recipient, now);
        if (wait > 0) {
          later(now + wait);
          continue;
        }
      }
      this.sending.add(row.conversation_id);
      void this.send(row, channel)
        .catch((error: unknown) =>
          this.deps.logger.error({ err: error, messageId: row.message_id }, 'outbound send failed'),
        )
        .finally(() => {
          this.sending.delete(row.conversation_id);
          this.wake();
        });
    }
    return wakeAt;
  }

  /** 0 when the number and the customer each had a token, now spent; else how long to wait. */
  private tokenWait(channel: Channel, recipient: string, now: number): number {
    const [pair, number] = this.bucketsOf(channel, recipient);
    const wait = Math.max(this.buckets.wait(...pair, now), this.buckets.wait(...number, now));
    if (wait === 0) {
      this.buckets.take(...pair, now);
      this.buckets.take(...number, now);
    }
    return wait;
  }

  private bucketsOf(channel: Channel, recipient: string) {
    const rate = channel.sendRatePerSecond ?? this.options.ratePerSecond;
    const pairRate = this.options.pairIntervalMs === 0 ? 1e6 : 1000 / this.options.pairIntervalMs;
    return [
      [`pair:${channel.phoneNumberId}:${recipient}`, pairRate, this.options.pairBurst],
      [`number:${channel.phoneNumberId}`, rate, rate],
    ] as const;
  }

  /** 1. Record the attempt. 2. Call the Graph API. 3. Record the outcome. 4. Wait for the queue to show it. */
  private async send(row: PendingRow, channel: Channel | undefined): Promise<void> {
    const context = { organizationId: row.organization_id, actor: 'system', correlationId: row.message_id };
    const tell = (command: ConversationCommand) =>
      this.deps.conversations.send(row.conversation_id, command, context);
    const attempt = row.attempts + 1;
    let outcome: SendOutcome;
    if (!channel) {
      outcome = {
        ok: false,
        retryable: false,
        error: { code: 0, title: 'The WhatsApp number was disconnected before the message could be sent' },
      };
    } else {
      const started = await tell({ type: 'RecordSendAttempt', messageId: row.message_id, attempt });
      if (started.events === 0) {
        // Settled meanwhile (a status webhook proved it sent) and the queue has not caught up.
        // Its row usually vanishes before it is looked at again: pauses that ran out go here, not there.
        const now = Date.now();
        for (const [messageId, until] of this.notBefore) if (until <= now) this.notBefore.delete(messageId);
        this.notBefore.set(row.message_id, now + staleRowPauseMs);
        return;
      }
      this.ownAttempts.add(row.message_id);
      const stopTimer = this.metrics.sendSeconds.startTimer();
      outcome = await this.deps.graph.sendMessage({
        phoneNumberId: channel.phoneNumberId,
        accessToken: channel.accessToken,
        to: row.recipient,
        content: row.content,
        ...(row.reply_to === null ? {} : { replyTo: row.reply_to }),
        callbackData: row.message_id,
      });
      stopTimer();
      if (!outcome.ok && throttleCodes.has(outcome.error.code))
        this.slowDown(channel, row.recipient, outcome);
    }
    const { command, type } = this.outcomeCommand(row.message_id, attempt, outcome);
    const recorded = await this.record(tell, command);
    this.ownAttempts.delete(row.message_id);
    if (recorded !== null) await this.deps.projections.waitFor(recorded, type);
  }

  /** Meta's throttling answer empties the bucket it names for the time it asks (1 s by default). */
  private slowDown(channel: Channel, recipient: string, outcome: Extract<SendOutcome, { ok: false }>): void {
    const [pair, number] = this.bucketsOf(channel, recipient);
    const [key, rate, capacity] = outcome.error.code === 131056 ? pair : number;
    this.buckets.drain(key, rate, capacity, Date.now(), outcome.retryAfterMs ?? 1000);
  }

  private outcomeCommand(
    messageId: string,
    attempt: number,
    outcome: SendOutcome,
  ): { command: ConversationCommand; type: string } {
    const at = new Date().toISOString();
    if (outcome.ok) {
      this.metrics.outcomes.inc({ outcome: 'sent' });
      return {
        command: {
          type: 'RecordSendOutcome',
          messageId,
          outcome: { kind: 'sent', waMessageId: outcome.waMessageId },
        },
        type: 'MessageSent',
      };
    }
    const budget =
      this.options.maxAttempts * (throttleCodes.has(outcome.error.code) ? throttledAttemptsFactor : 1);
    if (!outcome.retryable || attempt >= budget) {
      this.metrics.outcomes.inc({ outcome: 'failed' });
      return {
        command: {
          type: 'RecordSendOutcome',
          messageId,
          outcome: { kind: 'failed', error: outcome.error, at },
        },
        type: 'MessageFailed',
      };
    }
    this.metrics.outcomes.inc({ outcome: 'deferred' });
    // A call that may have reached Meta waits for the status webhook that would prove it, like a crash.
    const delay = Math.max(
      this.retryDelay(attempt, outcome.retryAfterMs),
      outcome.inDoubt ? this.options.inDoubtGraceMs : 0,
    );
    const retryAt = new Date(Date.now() + delay).toISOString();
    return {
      command: {
        type: 'RecordSendOutcome',
        messageId,
        outcome: { kind: 'deferred', attempt, error: outcome.error, retryAt },
      },
      type: 'MessageSendDeferred',
    };
  }

  /** Exponential backoff with jitter (half fixed, half random), or Meta's Retry-After when longer. */
  private retryDelay(attempt: number, retryAfterMs: number | undefined): number {
    const exponential = Math.min(maxRetryMs, this.options.retryBaseMs * 2 ** (attempt - 1));
    const jittered = exponential / 2 + Math.random() * (exponential / 2);
    return Math.max(jittered, retryAfterMs ?? 0);
  }

  /**
   * The outcome must be recorded, never the message sent again for want of it: retried until it is.
   * Only shutdown gives up, leaving the attempt in doubt for the next start to settle. Answers the
   * position of the event recorded (null: none, the message was settled otherwise meanwhile).
   */
  private async record(
    tell: (command: ConversationCommand) => Promise<{ position: bigint | null }>,
    command: ConversationCommand,
  ): Promise<bigint | null> {
    for (let delay = 100; ; delay = Math.min(delay * 2, 5000)) {
      try {
        return (await tell(command)).position;
      } catch (error) {
        if (!this.running) return null;
        this.deps.logger.warn({ err: error }, 'send outcome not recorded yet; retrying');
        await pause(delay);
      }
    }
  }

  /** Sleeps until `ms` pass or `wake()` is called (also if it was called since the last sleep). */
  private idle(ms: number): Promise<void> {
    if (this.woken || !this.running) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeUp = undefined;
        this.woken = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeUp = done;
    });
  }
}

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
