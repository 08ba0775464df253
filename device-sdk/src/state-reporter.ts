/**
 * The device's reported state, coalesced: however many reports happen while offline
 * or while a state publish is in flight, only the latest whole state is sent next
 * (issue 3, "state is coalesced"). Versions rather than a dirty flag, so a report made
 * while a publish is in flight is not lost when that publish is acknowledged.
 *
 * @example
 *   const reporter = new StateReporter();
 *   reporter.report({ wifi: "on" });
 *   reporter.report({ clients: 3 });
 *   reporter.take(); // { version: 2, payload: '{"wifi":"on","clients":3}' }
 */
export class StateReporter {
  #state: Record<string, unknown> = {};
  #version = 0;
  #acked = 0;
  #inFlight = false;
  #publishes = 0;

  /** A copy of the local state. */
  get state(): Record<string, unknown> {
    return structuredClone(this.#state);
  }

  get publishes(): number {
    return this.#publishes;
  }

  /** Merges (shallow) or replaces the local state; returns the new whole state's JSON. */
  report(partial: Record<string, unknown>, replace: boolean): string {
    const next = replace ? { ...partial } : { ...this.#state, ...partial };
    const payload = JSON.stringify(next);
    this.#state = JSON.parse(payload) as Record<string, unknown>;
    this.#version++;
    return payload;
  }

  /** The state to publish now, or null when nothing new or one is already in flight. */
  take(): { version: number; payload: string } | null {
    if (this.#inFlight || this.#version === this.#acked) return null;
    this.#inFlight = true;
    this.#publishes++;
    return { version: this.#version, payload: JSON.stringify(this.#state) };
  }

  /** The publish of `version` is settled: acked, or failed and to be retried on reconnect. */
  settle(version: number, acked: boolean): void {
    this.#inFlight = false;
    if (acked) this.#acked = Math.max(this.#acked, version);
  }
}
