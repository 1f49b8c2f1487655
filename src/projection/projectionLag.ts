/**
 * How far behind a projection is: the events after its checkpoint (`events`) and the age of the oldest
 * of them (`seconds`), honest under load without a store read competing with it.
 *
 * The runner's subscription hands it `$all` in order, so the oldest event still to apply is the first
 * of the batch in hand: while the runner holds one, the age is that event's, taken when it is asked for
 * (it grows while a batch is slow or parked, and is gone once the batch commits). Holding none, the
 * periodic store probe tells, as it also sees events the subscription has not delivered (stopped, or
 * still reading); a batch taken or committed since the probe began makes its reading old news. The
 * count is the last probe's, less the events committed since it began.
 */
export class ProjectionLag {
  /** When the first event of the batch in hand was recorded (ms since the epoch). */
  private held: number | undefined;
  /** Batches taken and committed, so a probe knows whether it is still the latest news. */
  private changes = 0;
  private passed = 0;
  private probe: Probe & { events: number; oldest: number | undefined } = {
    changes: 0,
    passed: 0,
    events: 0,
    oldest: undefined,
  };

  /** The runner took a batch whose first event was recorded at `recordedAt`. */
  took(recordedAt: number): void {
    this.held = recordedAt;
    this.changes += 1;
  }

  /** The batch in hand committed: the checkpoint passed its `events` events. */
  committed(events: number): void {
    this.held = undefined;
    this.changes += 1;
    this.passed += events;
  }

  /** A probe begins reading the store; give this back to `probed` with what it read. */
  probing(): Probe {
    return { changes: this.changes, passed: this.passed };
  }

  /** The events past the checkpoint the probe counted (up to a limit) and when the oldest was recorded. */
  probed(began: Probe, reading: { events: number; oldest: number | undefined }): void {
    this.probe = { ...began, ...reading };
  }

  get events(): number {
    return Math.max(0, this.probe.events - (this.passed - this.probe.passed));
  }

  seconds(now: number): number {
    const oldest = this.held ?? (this.probe.changes === this.changes ? this.probe.oldest : undefined);
    return oldest === undefined ? 0 : Math.max(0, (now - oldest) / 1000);
  }
}

type Probe = { changes: number; passed: number };
