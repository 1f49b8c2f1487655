import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { AppError } from '../errors/catalogue.ts';
import { type CommandContext, type EventDraft, toNewEvents } from '../eventsourcing/commandHandler.ts';
import { DuplicateEventIdError, WrongExpectedRevisionError } from '../eventstore/errors.ts';
import type { EventStore, RecordedEvent } from '../eventstore/eventStore.ts';

/** What an actor does, given by its capability: the runtime holds no business rule. */
export type ActorBehaviour<Command, State> = {
  /** `conversation` → streams `conversation-<key>`. */
  category: string;
  initialState(): State;
  /** May update `state` in place: an actor owns its state and evolves it only after a durable append. */
  evolve(state: State, event: RecordedEvent): State;
  /**
   * Optional I/O before a decision: loads what `decide` reads besides the state (a chatbot's flows),
   * given the state it will decide on. Runs again whenever the turn decides again.
   */
  prepare?(command: Command, state: State, context: CommandContext): Promise<unknown>;
  /** Pure. Throws an AppError to refuse the command; [] when nothing changes. */
  decide(command: Command, state: State, context: CommandContext, prepared?: unknown): EventDraft[];
};

export type ActorSystemOptions = {
  /** Commands waiting per actor beyond which `send` refuses with a retryable 503. */
  mailboxLimit: number;
  /** An actor with an empty mailbox for this long is dropped from memory (its stream remains). */
  idleMs: number;
  /** Conflicting appends (another node wrote first) retried before giving up. */
  maxConflictRetries: number;
  metricsRegistry?: Registry;
};

export type TurnResult = {
  /** Position of the last event appended; null when the command changed nothing. */
  position: bigint | null;
  /** The stream's revision after the turn (-1: no stream). */
  revision: bigint;
  events: number;
};

type Envelope<Command> = {
  command: Command;
  context: CommandContext;
  resolve(result: TurnResult): void;
  reject(error: unknown): void;
};

type Actor<Command, State> = {
  key: string;
  state: State;
  /** Last revision evolved into `state`; -1n before the stream exists; undefined until loaded. */
  revision: bigint | undefined;
  mailbox: Envelope<Command>[];
  running: boolean;
  idleTimer: NodeJS.Timeout | undefined;
  /** Until then, another process was seen writing this stream: turns read before deciding. */
  contendedUntil: number;
};

const contentionMs = 5000;
const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * In-process actors, one per stream: a serial mailbox, rehydration from the stream, appends with the
 * expected revision, and on a conflict (another process appended first) a catch-up read and a new
 * decision. Correctness never depends on being the only process holding an actor: the expected
 * revision makes concurrent holders take turns.
 */
export class ActorSystem<Command, State> {
  private readonly actors = new Map<string, Actor<Command, State>>();
  private readonly passivated = new Set<(key: string) => void>();
  private readonly metrics;

  constructor(
    private readonly store: EventStore,
    private readonly behaviour: ActorBehaviour<Command, State>,
    private readonly options: ActorSystemOptions,
  ) {
    this.metrics = actorMetrics(behaviour.category, options.metricsRegistry, this.actors);
  }

  /** Runs `command` on the actor of `key` after the commands before it; resolves once its events are durable. */
  send(key: string, command: Command, context: CommandContext): Promise<TurnResult> {
    let actor = this.actors.get(key);
    if (!actor) {
      actor = {
        key,
        state: this.behaviour.initialState(),
        revision: undefined,
        mailbox: [],
        running: false,
        idleTimer: undefined,
        contendedUntil: 0,
      };
      this.actors.set(key, actor);
    }
    if (actor.mailbox.length >= this.options.mailboxLimit) {
      this.metrics.rejected.inc();
      return Promise.reject(
        new AppError(
          'actor.mailbox_full',
          `${this.behaviour.category} ${key} has too many commands waiting`,
          [],
          {
            'retry-after': '1',
          },
        ),
      );
    }
    clearTimeout(actor.idleTimer);
    const turn = new Promise<TurnResult>((resolve, reject) => {
      actor.mailbox.push({ command, context, resolve, reject });
    });
    if (!actor.running) void this.drain(actor);
    return turn;
  }

  get size(): number {
    return this.actors.size;
  }

  /** Calls `listener` with the key of every actor dropped from memory (a cluster releases its lease). */
  onPassivate(listener: (key: string) => void): () => void {
    this.passivated.add(listener);
    return () => this.passivated.delete(listener);
  }

  private async drain(actor: Actor<Command, State>): Promise<void> {
    actor.running = true;
    for (let envelope = actor.mailbox.shift(); envelope; envelope = actor.mailbox.shift()) {
      const stopTimer = this.metrics.turnSeconds.startTimer();
      try {
        envelope.resolve(await this.turn(actor, envelope));
      } catch (error) {
        envelope.reject(error);
      } finally {
        stopTimer();
      }
    }
    actor.running = false;
    actor.idleTimer = setTimeout(() => {
      if (!actor.running && actor.mailbox.length === 0 && this.actors.get(actor.key) === actor) {
        this.actors.delete(actor.key);
        for (const listener of this.passivated) listener(actor.key);
      }
    }, this.options.idleMs);
    actor.idleTimer.unref();
  }

  /**
   * 1. Load the stream if this actor has not yet. 2. Decide on the state held. 3. Append at the
   * expected revision. 4. Evolve. The state held may be stale when another process writes the same
   * stream: an append then conflicts, and the turn reads what it missed and decides again; a decision
   * that changes nothing or refuses is confirmed the same way before it is answered. So the usual
   * turn costs one round trip (the append), and no answer rests on a stale state.
   */
  private async turn(actor: Actor<Command, State>, envelope: Envelope<Command>): Promise<TurnResult> {
    const streamName = `${this.behaviour.category}-${actor.key}`;
    for (let attempt = 0; ; attempt += 1) {
      // Under contention, read first: a stale actor would lose every race to a fresh one. A state
      // just read needs no second read to confirm a no-op or a refusal.
      const readFirst = actor.revision === undefined || actor.contendedUntil > Date.now();
      if (readFirst) await this.catchUp(actor);
      const drafts = readFirst ? await this.decide(actor, envelope) : await this.decideFresh(actor, envelope);
      const expected = actor.revision ?? -1n;
      if (drafts.length === 0) return { position: null, revision: expected, events: 0 };
      const events = toNewEvents(drafts, envelope.context);
      try {
        const result = await this.store.appendToStream(
          streamName,
          events,
          expected === -1n ? 'no_stream' : expected,
        );
        if (result.nextExpectedRevision === expected + BigInt(events.length)) {
          events.forEach((event, index) => {
            actor.state = this.behaviour.evolve(actor.state, {
              ...event,
              streamName,
              revision: expected + 1n + BigInt(index),
              position: index === events.length - 1 ? result.position : 0n,
              recordedAt: new Date(),
            });
          });
          actor.revision = result.nextExpectedRevision;
        }
        // Otherwise these events were stored before (a retried append answered "duplicate"): the
        // next turn reads the stream back rather than trusting a guess.
        else this.forget(actor);
        return { position: result.position, revision: result.nextExpectedRevision, events: events.length };
      } catch (error) {
        // Another writer moved the stream first. A deterministic event id already stored means the
        // same: another process recorded part of this decision (a redelivered webhook) in its own turn.
        const conflict =
          error instanceof WrongExpectedRevisionError || error instanceof DuplicateEventIdError;
        if (!conflict) {
          // Whether the append happened is unknown: read the stream again before the next decision.
          this.forget(actor);
          throw error;
        }
        this.metrics.conflicts.inc();
        if (attempt >= this.options.maxConflictRetries) throw error;
        actor.contendedUntil = Date.now() + contentionMs;
        // Repeated losses back off a little, with jitter, so the other writer's burst can pass.
        if (attempt >= 2) await pause(Math.random() * 2 ** Math.min(attempt, 7));
      }
    }
  }

  /**
   * Decides on the state held; when that yields nothing or a refusal, reads what this process may
   * have missed and, if there was anything, decides once more (the second answer stands).
   */
  private async decideFresh(
    actor: Actor<Command, State>,
    envelope: Envelope<Command>,
  ): Promise<EventDraft[]> {
    let drafts: EventDraft[] | undefined;
    let refusal: unknown;
    try {
      drafts = await this.decide(actor, envelope);
      if (drafts.length > 0) return drafts;
    } catch (error) {
      refusal = error;
    }
    if ((await this.catchUp(actor)) === 0) {
      if (drafts) return drafts;
      throw refusal;
    }
    return this.decide(actor, envelope);
  }

  private async decide(actor: Actor<Command, State>, envelope: Envelope<Command>): Promise<EventDraft[]> {
    const { command, context } = envelope;
    const prepared = await this.behaviour.prepare?.(command, actor.state, context);
    return this.behaviour.decide(command, actor.state, context, prepared);
  }

  /** Reads the events after the revision already evolved into the state; answers how many. */
  private async catchUp(actor: Actor<Command, State>): Promise<number> {
    const streamName = `${this.behaviour.category}-${actor.key}`;
    const from = actor.revision === undefined ? 0n : actor.revision + 1n;
    try {
      const events = await this.store.readStream(streamName, { fromRevision: from });
      for (const event of events) actor.state = this.behaviour.evolve(actor.state, event);
      actor.revision = events.at(-1)?.revision ?? actor.revision ?? -1n;
      return events.length;
    } catch (error) {
      // Part of the events may be evolved already: start from the stream again next time.
      this.forget(actor);
      throw error;
    }
  }

  private forget(actor: Actor<Command, State>): void {
    actor.state = this.behaviour.initialState();
    actor.revision = undefined;
  }
}

function actorMetrics(
  category: string,
  registry: Registry | undefined,
  actors: Map<string, { mailbox: unknown[] }>,
) {
  const registers = registry ? [registry] : [];
  const labels = { category };
  new Gauge({
    name: 'actors_active',
    help: 'Actors held in memory, by category',
    labelNames: ['category'],
    registers,
    collect() {
      this.set(labels, actors.size);
    },
  });
  new Gauge({
    name: 'actor_mailbox_depth',
    help: 'Commands waiting in all mailboxes of a category',
    labelNames: ['category'],
    registers,
    collect() {
      let depth = 0;
      for (const actor of actors.values()) depth += actor.mailbox.length;
      this.set(labels, depth);
    },
  });
  const conflicts = new Counter({
    name: 'actor_conflicts_total',
    help: 'Appends refused because another writer moved the stream first (the turn is retried)',
    labelNames: ['category'],
    registers,
  });
  const rejected = new Counter({
    name: 'actor_mailbox_rejections_total',
    help: 'Commands refused with 503 because the mailbox was full',
    labelNames: ['category'],
    registers,
  });
  const turnSeconds = new Histogram({
    name: 'actor_turn_seconds',
    help: 'Time from a command leaving the mailbox to its events being durable',
    labelNames: ['category'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers,
  });
  return {
    conflicts: conflicts.labels(labels),
    rejected: rejected.labels(labels),
    turnSeconds: turnSeconds.labels(labels),
  };
}
