import { sql } from 'slonik';
import type { ConversationWorkerDeps } from '../conversation/conversationActor.ts';
import type { ConversationCommand } from '../conversation/conversationCommands.ts';
import { LeaderLoop } from '../db/leaderLoop.ts';
import { type ApiCallPolicy, type ApiOutcome, type ApiRequest, performApiCall } from './apiCall.ts';
import { secretsIn, withSecrets } from './flowSecrets.ts';

type Work = {
  conversation_id: string;
  organization_id: string;
  run_id: string;
  turn: number;
  kind: 'timeout' | 'api_call';
  request_id: string | null;
  request: ApiRequest | null;
};

const pollMs = 1000;
const batch = 100;
/**
 * Work just done is not taken again while its projection catches up: an API is not called twice. A
 * timeout may be retried sooner (the database's clock may run ahead of this process's).
 */
const doneTtlMs = { api_call: 60_000, timeout: 1000 };

/**
 * Does what waiting flow runs need done off the conversation actor's turn, on the workers' leader:
 * makes their API calls and fires their questions' timeouts, from `scheduling.flow_work` (the
 * flow-runs projection), then hands each outcome to the conversation as a `ResumeFlow`. The actor
 * stays free meanwhile and decides: an outcome for a run that has moved on changes nothing.
 * A call in flight when the process dies is made again by the next leader (at least once).
 */
export class FlowWorker {
  private readonly loop: LeaderLoop;
  private readonly busy = new Map<string, number>();
  private readonly calls = new Set<Promise<void>>();

  constructor(
    private readonly deps: ConversationWorkerDeps,
    private readonly options: {
      policy: ApiCallPolicy;
      concurrency: number;
      /** The organization's flow secrets named (flowSecretStore.ts), for requests that use them. */
      openSecrets: (organizationId: string, names: readonly string[]) => Promise<Map<string, string>>;
    },
  ) {
    this.loop = new LeaderLoop(deps, { pollMs, failure: 'flow work not done; trying again' }, () =>
      this.round(),
    );
  }

  start(): void {
    this.loop.start();
  }

  /** Called when the flow-runs projection applied a batch: there may be new work. */
  wake(): void {
    this.loop.wake();
  }

  /** Stops taking work and lets the calls in flight finish and record. */
  async stop(): Promise<void> {
    await this.loop.stop();
    await Promise.all(this.calls);
  }

  private async round(): Promise<void> {
    const now = Date.now();
    for (const [key, until] of this.busy) if (until !== 0 && until < now) this.busy.delete(key);
    const room = this.options.concurrency - this.calls.size;
    if (room <= 0) return;
    const due = (await this.deps.pool.any(sql.unsafe`
      SELECT conversation_id, organization_id, run_id, turn, kind, request_id, request
        FROM scheduling.flow_work WHERE due_at <= now() ORDER BY due_at LIMIT ${batch}`)) as readonly Work[];
    for (const work of due) {
      const key = `${work.conversation_id}/${work.run_id}/${work.turn}`;
      if (this.busy.has(key) || this.calls.size >= this.options.concurrency) continue;
      this.busy.set(key, 0);
      const call = this.perform(work)
        .catch((error: unknown) => {
          // Not recorded: forget it, so the next round tries again.
          this.busy.delete(key);
          this.deps.logger.error({ err: error, conversationId: work.conversation_id }, 'flow work failed');
        })
        .then(() => {
          if (this.busy.has(key)) this.busy.set(key, Date.now() + doneTtlMs[work.kind]);
        })
        .finally(() => {
          this.calls.delete(call);
          this.loop.wake();
        });
      this.calls.add(call);
    }
  }

  private async perform(work: Work): Promise<void> {
    const input: Extract<ConversationCommand, { type: 'ResumeFlow' }>['input'] =
      work.kind === 'api_call' && work.request && work.request_id
        ? { kind: 'api_result', requestId: work.request_id, outcome: await this.call(work, work.request) }
        : { kind: 'timeout' };
    const result = await this.deps.conversations.send(
      work.conversation_id,
      { type: 'ResumeFlow', runId: work.run_id, turn: work.turn, input, now: new Date().toISOString() },
      { organizationId: work.organization_id, actor: 'bot' },
    );
    if (result.position !== null) await this.deps.projections.waitForProjection('flow-runs', result.position);
  }

  /** The request with its secrets filled in, made; a secret the organization does not have fails it. */
  private async call(work: Work, request: ApiRequest): Promise<ApiOutcome> {
    const names = secretsIn(request);
    const values = await this.options.openSecrets(work.organization_id, names);
    const missing = names.find((name) => !values.has(name));
    if (missing !== undefined) {
      return {
        ok: false,
        status: null,
        error: `no flow secret '${missing}' (PUT /api/v1/flow-secrets/${missing})`,
      };
    }
    return performApiCall(withSecrets(request, values), this.options.policy);
  }
}
