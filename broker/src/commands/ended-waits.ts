/** A synchronous wait that ended without a result: the caller was answered 504 or 409. */
export interface EndedWait {
  deviceId: string;
  outcome: "timeout" | "offline";
  endedAt: number;
}

/**
 * Remembers, for a while, the commands whose callers stopped waiting without a
 * result, so a result that arrives afterwards — a router answering after
 * `timeoutMs`, or from a connection that did not receive the command — is
 * logged as late instead of vanishing (issue 13's papercut). Commands that
 * became queued (202) are forgotten: their late result is a `command_result`.
 */
export class EndedWaits {
  /** Bound: `max` entries and `ttlMs` each; oldest first (insertion order is time order). */
  readonly #ended = new Map<string, EndedWait>();
  readonly #max: number;
  readonly #ttlMs: number;

  constructor(max: number, ttlMs: number) {
    this.#max = max;
    this.#ttlMs = ttlMs;
  }

  get size(): number {
    return this.#ended.size;
  }

  record(commandId: string, wait: EndedWait): void {
    for (const [id, entry] of this.#ended) {
      if (this.#ended.size < this.#max && wait.endedAt - entry.endedAt < this.#ttlMs) break;
      this.#ended.delete(id);
    }
    this.#ended.set(commandId, wait);
  }

  /** The ended wait of `commandId`, removed (a late result is reported once). */
  take(commandId: string): EndedWait | undefined {
    const wait = this.#ended.get(commandId);
    this.#ended.delete(commandId);
    return wait;
  }

  forget(commandId: string): void {
    this.#ended.delete(commandId);
  }
}
