/**
 * Churn the soak asks for (issue 6), each a fleet-wide rate in events per minute:
 * - `disconnect`: a router disconnects cleanly (DISCONNECT) and reboots after a downtime;
 * - `halfOpen`: a router's socket goes silent — no DISCONNECT, no FIN — and the router
 *   reboots after a downtime, so the broker sees a takeover of a half-open connection
 *   (downtime < 1.5 × keepalive) or a keepalive timeout (longer);
 * - `takeover`: a second connection with the same id and password takes the session
 *   over for a moment; the router comes back with its backoff;
 * - `vanish`: a router's socket goes silent and it never returns, so its session must
 *   expire at the broker; a fresh id takes its place when `replaceVanished`.
 */
export interface ChurnRates {
  disconnect: number;
  halfOpen: number;
  takeover: number;
  vanish: number;
}

export type ChurnKind = keyof ChurnRates;

export const NO_CHURN: ChurnRates = { disconnect: 0, halfOpen: 0, takeover: 0, vanish: 0 };

const FLAG_NAMES: Record<string, ChurnKind> = {
  disconnect: "disconnect",
  "half-open": "halfOpen",
  halfopen: "halfOpen",
  takeover: "takeover",
  vanish: "vanish",
};

/**
 * Parses `disconnect=30,half-open=10,takeover=5,vanish=2` (per minute, fleet-wide).
 *
 * @example
 *   parseChurn("half-open=6,vanish=1"); // { disconnect: 0, halfOpen: 6, takeover: 0, vanish: 1 }
 */
export function parseChurn(text: string): ChurnRates {
  const rates: ChurnRates = { ...NO_CHURN };
  for (const part of text
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean)) {
    const [name, value] = part.split("=", 2);
    const kind = FLAG_NAMES[(name ?? "").toLowerCase()];
    const rate = Number(value);
    if (!kind || value === undefined || !Number.isFinite(rate) || rate < 0) {
      throw new Error(
        `bad --churn entry "${part}": expected disconnect|half-open|takeover|vanish=<per minute>`,
      );
    }
    rates[kind] = rate;
  }
  return rates;
}

/**
 * Fires `onChurn(kind)` at the given rates as independent Poisson processes
 * (exponential gaps), so churn is irregular like a real fleet's. Returns a stop function.
 *
 * @example
 *   const stop = scheduleChurn({ ...NO_CHURN, halfOpen: 6 }, (kind) => apply(kind));
 */
export function scheduleChurn(
  rates: ChurnRates,
  onChurn: (kind: ChurnKind) => void,
  random: () => number = Math.random,
): () => void {
  // Bound: one pending timer per churn kind.
  const timers = new Map<ChurnKind, ReturnType<typeof setTimeout>>();
  let stopped = false;
  const arm = (kind: ChurnKind) => {
    const perMinute = rates[kind];
    if (stopped || perMinute <= 0) return;
    const gapMs = (-Math.log(1 - random()) * 60_000) / perMinute;
    timers.set(
      kind,
      setTimeout(() => {
        onChurn(kind);
        arm(kind);
      }, gapMs),
    );
  };
  for (const kind of Object.keys(rates) as ChurnKind[]) arm(kind);
  return () => {
    stopped = true;
    for (const timer of timers.values()) clearTimeout(timer);
    timers.clear();
  };
}
