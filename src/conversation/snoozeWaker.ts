import { sql } from 'slonik';
import { LeaderLoop } from '../db/leaderLoop.ts';
import type { ConversationWorkerDeps } from './conversationActor.ts';

type DueTimer = { conversation_id: string; organization_id: string; due_at: Date };

const pollMs = 1000;
const batch = 100;

/**
 * Reopens snoozed conversations when their time comes. Reads the due timers the
 * `conversation-timers` projection keeps and sends each to its conversation, on the node holding the
 * workers' leader lock. The conversation decides: a timer that is stale by then changes nothing.
 */
export class SnoozeWaker {
  private readonly loop: LeaderLoop;

  constructor(private readonly deps: ConversationWorkerDeps) {
    this.loop = new LeaderLoop(
      deps,
      { pollMs, failure: 'snoozed conversations not woken; trying again' },
      () => this.wakeDue(),
    );
  }

  start(): void {
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
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
