import { type DatabasePool, sql } from 'slonik';
import type { LeaderLock } from '../db/leaderLock.ts';
import type { Logger } from '../log/logger.ts';
import type { ProjectionRunner } from '../projection/projectionRunner.ts';
import type { ConversationActors } from './conversationActor.ts';

type DueTimer = { conversation_id: string; organization_id: string; due_at: Date };

const pollMs = 1000;
const batch = 100;

/**
 * Reopens snoozed conversations when their time comes. Reads the due timers the
 * `conversation-timers` projection keeps and sends each to its conversation, on the node holding the
 * workers' leader lock. The conversation decides: a timer that is stale by then changes nothing.
 */
export class SnoozeWaker {
  private running = false;
  private loop: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private wakeUp: (() => void) | undefined;

  constructor(
    private readonly deps: {
      pool: DatabasePool;
      conversations: ConversationActors;
      projections: ProjectionRunner;
      leader: LeaderLock;
      logger: Logger;
    },
  ) {}

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.wakeUp?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      if (await this.deps.leader.tryAcquire()) {
        await this.wakeDue().catch((error: unknown) =>
          this.deps.logger.error({ err: error }, 'snoozed conversations not woken; trying again'),
        );
      }
      await new Promise<void>((resolve) => {
        this.wakeUp = resolve;
        this.timer = setTimeout(resolve, pollMs);
      });
    }
  }

  private async wakeDue(): Promise<void> {
    const due = (await this.deps.pool.any(sql.unsafe`
      SELECT conversation_id, organization_id, due_at FROM scheduling.conversation_timers
       WHERE kind = 'snooze' AND due_at <= now() ORDER BY due_at LIMIT ${batch}`)) as readonly DueTimer[];
    await Promise.all(
      due.map(async (timer) => {
        const result = await this.deps.conversations.send(
          timer.conversation_id,
          { type: 'EndSnooze', until: timer.due_at.toISOString(), now: new Date().toISOString() },
          { organizationId: timer.organization_id, actor: 'system' },
        );
        // The timer row goes once the reopening is projected; until then it must not be sent again.
        if (result.position !== null)
          await this.deps.projections.waitFor(result.position, 'ConversationReopened');
      }),
    );
  }
}
