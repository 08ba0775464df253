/** Why the forwarder says the edge is not taking events. */
export interface EdgeProblem {
  /** Epoch ms of the first failed attempt since the last delivery. */
  since: number;
  /** The last failure: `HTTP 503`, `fetch failed: connect ECONNREFUSED …`, `request timed out …`. */
  reason: string;
}

/**
 * Whether the edge has refused or not answered for longer than `degradedAfterMs`
 * (issue 12): /healthz reports it as `degraded` so a load balancer and an operator
 * see it. A single delivery clears it; nothing needs a restart.
 */
export class EdgeHealth {
  #failingSince: number | null = null;
  #lastReason = "";

  constructor(
    private readonly degradedAfterMs: number,
    private readonly now: () => number,
  ) {}

  /** The edge answered (took the batch, or refused it for its content). */
  answered(): void {
    this.#failingSince = null;
  }

  /** An attempt failed: no answer, 5xx, 429, or a refusal of us rather than of the batch. */
  failed(reason: string): void {
    this.#failingSince ??= this.now();
    this.#lastReason = reason;
  }

  /** The problem once it has lasted `degradedAfterMs`; null while healthy or within that grace. */
  problem(): EdgeProblem | null {
    const since = this.#failingSince;
    if (since === null || this.now() - since < this.degradedAfterMs) return null;
    return { since, reason: this.#lastReason };
  }
}
