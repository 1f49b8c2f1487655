import { Counter, Histogram, type Registry } from 'prom-client';
import { type DatabasePool, sql } from 'slonik';
import type { ActorSystem } from '../actors/actorSystem.ts';
import type { ConversationCommand } from '../conversation/conversationCommands.ts';
import type { ConversationState } from '../conversation/conversationState.ts';
import type { MetaError, OutboundContent } from '../conversation/messageContent.ts';
import type { LeaderLock } from '../db/leaderLock.ts';
import type { Logger } from '../log/logger.ts';
import type { ProjectionRunner } from '../projection/projectionRunner.ts';
import type { ChannelDirectory } from './channelDirectory.ts';
import type { GraphClient, SendOutcome } from './graphClient.ts';
import { TokenBuckets } from './tokenBucket.ts';

export type OutboundSenderOptions = {
  ratePerSecond: number;
  pairIntervalMs: number;
  pairBurst: number;
  maxAttempts: number;
  retryBaseMs: number;
  inDoubtGraceMs: number;
  /** Conversations sending at once. */
  concurrency: number;
};

export type OutboundSenderDeps = {
  pool: DatabasePool;
  conversations: ActorSystem<ConversationCommand, ConversationState>;
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
  next_attempt_at: Date;
};

const pollMs = 1000;
const maxRetryMs = 5 * 60_000;

/**
 * Sends queued messages through the Graph API. Only the node holding the leader lock sends. Per
 * conversation, one message at a time in queue order: the next goes once the previous is accepted
 * or has failed for good. Per number a token bucket, per customer Meta's pair rate.
 *
 * The guarantee across crashes: every queued message is sent at least once, and twice only when a
 * process dies after the Graph API accepted it and before MessageSent was recorded, and no status
 * webhook for it arrived within OUTBOUND_IN_DOUBT_GRACE_SECONDS. Each attempt is recorded before the
 * call (MessageSendAttempted) and names the message in `biz_opaque_callback_data`, which Meta echoes
 * in status webhooks: an attempt left open by a crash waits for that proof before sending again.
 */
export class OutboundSender {
  private readonly sending = new Set<string>();
  /** Attempts this process started: an open attempt not in here was left by a crash. */
  private readonly ownAttempts = new Set<string>();
  private readonly buckets = new TokenBuckets();
  private running = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private readonly abort = new AbortController();
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
    this.wakeUp?.();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.abort.abort();
    this.wake();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      const wakeAt = (await this.deps.leader.tryAcquire())
        ? await this.dispatch().catch(this.logFailure)
        : undefined;
      await this.idle(wakeAt === undefined ? pollMs : Math.min(pollMs, Math.max(0, wakeAt - Date.now())));
    }
    // Let sends in flight record their outcome before the store closes.
    while (this.sending.size > 0) await pause(50);
  }

  private readonly logFailure = (error: unknown) => {
    this.deps.logger.error({ err: error }, 'outbound sender cycle failed');
    return undefined;
  };

  /** Starts a send for each conversation whose head message is due; answers when to look again. */
  private async dispatch(): Promise<number | undefined> {
    const heads = (await this.deps.pool.any(sql.unsafe`
      SELECT DISTINCT ON (conversation_id) conversation_id, message_id, organization_id, channel_id,
             recipient, content, reply_to, attempts, attempt_started_at, next_attempt_at
        FROM outbound.pending ORDER BY conversation_id, revision`)) as readonly PendingRow[];
    const now = Date.now();
    let wakeAt: number | undefined;
    const later = (at: number) => {
      wakeAt = wakeAt === undefined ? at : Math.min(wakeAt, at);
    };
    for (const row of heads) {
      if (this.sending.size >= this.options.concurrency) break;
      if (this.sending.has(row.conversation_id)) continue;
      if (row.next_attempt_at.getTime() > now) {
        later(row.next_attempt_at.getTime());
        continue;
      }
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
      this.sending.add(row.conversation_id);
      void this.send(row)
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

  /** 1. Pace. 2. Record the attempt. 3. Call the Graph API. 4. Record the outcome. 5. Wait for the queue to show it. */
  private async send(row: PendingRow): Promise<void> {
    const context = { organizationId: row.organization_id, actor: 'system', correlationId: row.message_id };
    const tell = (command: ConversationCommand) =>
      this.deps.conversations.send(row.conversation_id, command, context);
    const channel = await this.deps.directory.byChannelId(row.channel_id);
    const attempt = row.attempts + 1;
    let outcome: SendOutcome;
    if (!channel) {
      outcome = {
        ok: false,
        retryable: false,
        error: { code: 0, title: 'The WhatsApp number was disconnected before the message could be sent' },
      };
    } else {
      await this.pace(
        channel.phoneNumberId,
        row.recipient,
        channel.sendRatePerSecond ?? this.options.ratePerSecond,
      );
      if (!this.running) return;
      const started = await tell({ type: 'RecordSendAttempt', messageId: row.message_id, attempt });
      if (started.events === 0) return; // settled meanwhile (a status webhook proved it sent)
      this.ownAttempts.add(row.message_id);
      const stopTimer = this.metrics.sendSeconds.startTimer();
      outcome = await this.deps.graph.sendMessage(
        {
          phoneNumberId: channel.phoneNumberId,
          accessToken: channel.accessToken,
          to: row.recipient,
          content: row.content,
          ...(row.reply_to === null ? {} : { replyTo: row.reply_to }),
          callbackData: row.message_id,
        },
        this.abort.signal,
      );
      stopTimer();
      // Cut short by shutdown: Meta may have it. The attempt stays open, settled after the restart.
      if (!outcome.ok && this.abort.signal.aborted) return;
    }
    const command = this.outcomeCommand(row.message_id, attempt, outcome);
    const recorded = await this.record(tell, command);
    this.ownAttempts.delete(row.message_id);
    if (recorded?.position != null) {
      await this.deps.projections.waitFor(recorded.position, recorded.type);
    }
  }

  private outcomeCommand(messageId: string, attempt: number, outcome: SendOutcome): ConversationCommand {
    const at = new Date().toISOString();
    if (outcome.ok) {
      this.metrics.outcomes.inc({ outcome: 'sent' });
      return {
        type: 'RecordSendOutcome',
        messageId,
        outcome: { kind: 'sent', waMessageId: outcome.waMessageId },
      };
    }
    if (!outcome.retryable || attempt >= this.options.maxAttempts) {
      this.metrics.outcomes.inc({ outcome: 'failed' });
      return { type: 'RecordSendOutcome', messageId, outcome: { kind: 'failed', error: outcome.error, at } };
    }
    this.metrics.outcomes.inc({ outcome: 'deferred' });
    const retryAt = new Date(Date.now() + this.retryDelay(attempt, outcome.retryAfterMs)).toISOString();
    return {
      type: 'RecordSendOutcome',
      messageId,
      outcome: { kind: 'deferred', attempt, error: outcome.error as MetaError, retryAt },
    };
  }

  /** Exponential backoff with jitter (half fixed, half random), or Meta's Retry-After when longer. */
  private retryDelay(attempt: number, retryAfterMs: number | undefined): number {
    const exponential = Math.min(maxRetryMs, this.options.retryBaseMs * 2 ** (attempt - 1));
    const jittered = exponential / 2 + Math.random() * (exponential / 2);
    return Math.max(jittered, retryAfterMs ?? 0);
  }

  /**
   * The outcome must be recorded, never the message sent again for want of it: retried until it is
   * (or until shutdown, which leaves the attempt in doubt for the next start to settle).
   */
  private async record(
    tell: (command: ConversationCommand) => Promise<{ position: bigint | null }>,
    command: ConversationCommand,
  ): Promise<{ position: bigint; type: string } | undefined> {
    for (let delay = 100; ; delay = Math.min(delay * 2, 5000)) {
      try {
        const result = await tell(command);
        if (result.position === null) return undefined;
        const type =
          command.type === 'RecordSendOutcome'
            ? { sent: 'MessageSent', failed: 'MessageFailed', deferred: 'MessageSendDeferred' }[
                command.outcome.kind
              ]
            : command.type;
        return { position: result.position, type };
      } catch (error) {
        if (!this.running) return undefined;
        this.deps.logger.warn({ err: error }, 'send outcome not recorded yet; retrying');
        await pause(delay);
      }
    }
  }

  private async pace(phoneNumberId: string, recipient: string, ratePerSecond: number): Promise<void> {
    const pairRate = this.options.pairIntervalMs === 0 ? 1e6 : 1000 / this.options.pairIntervalMs;
    const until = async (take: (now: number) => number) => {
      for (let wait = take(Date.now()); wait > 0 && this.running; wait = take(Date.now())) await pause(wait);
    };
    // The customer's pair rate first: waiting on it must not hold one of the number's tokens.
    await until((now) =>
      this.buckets.take(`pair:${phoneNumberId}:${recipient}`, pairRate, this.options.pairBurst, now),
    );
    await until((now) => this.buckets.take(`number:${phoneNumberId}`, ratePerSecond, ratePerSecond, now));
  }

  /** Sleeps until `ms` pass or `wake()` is called. */
  private idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = done;
    });
  }
}

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
