/**
 * A simulated Rails: commands to random routers at a fixed rate, through the
 * broker's HTTP API or through the edge (same body and answers, CONTRACT.md).
 */
export interface RailsTarget {
  /** Base URL: the broker's http URL or the edge's. */
  url: string;
  token: string;
}

/** Outcome counts by what the contract's status means. */
export interface CommandTally {
  ok: number;
  /** The device answered ok: false. */
  failedByDevice: number;
  queued: number;
  offline: number;
  timeout: number;
  rateLimited: number;
  /** Any other status, or a network error. */
  errors: number;
  lastError: string | null;
  /** Round trips of 200 answers, ms; bounded reservoir (see RTT_KEEP). */
  rtts: number[];
}

/** Bound of the RTT reservoir: enough for percentiles, never growing with the run. */
const RTT_KEEP = 10_000;
/** Bound: requests in flight; beyond it a tick is skipped and counted as an error. */
const MAX_IN_FLIGHT = 500;

export function emptyTally(): CommandTally {
  return {
    ok: 0,
    failedByDevice: 0,
    queued: 0,
    offline: 0,
    timeout: 0,
    rateLimited: 0,
    errors: 0,
    lastError: null,
    rtts: [],
  };
}

/** Succeeded from Rails's point of view: answered, or queued for later. */
export const succeeded = (t: CommandTally) => t.ok + t.failedByDevice + t.queued;
/** Did not reach a device: offline, timeout, rate limited, errors. */
export const failed = (t: CommandTally) => t.offline + t.timeout + t.rateLimited + t.errors;

/** Reservoir sampling: every answer has the same chance to be among the kept RTT_KEEP. */
function record(tally: CommandTally, rttMs: number): void {
  const seen = tally.ok + tally.failedByDevice;
  if (tally.rtts.length < RTT_KEEP) {
    tally.rtts.push(rttMs);
    return;
  }
  const slot = Math.floor(Math.random() * seen);
  if (slot < RTT_KEEP) tally.rtts[slot] = rttMs;
}

async function sendOne(
  target: RailsTarget,
  deviceId: string,
  queue: boolean,
  tally: CommandTally,
): Promise<void> {
  const started = performance.now();
  const body = queue
    ? {
        name: "set_state",
        params: { note: `soak ${Date.now()}` },
        queue: true,
        ttlMs: 60_000,
        timeoutMs: 5_000,
      }
    : { name: Math.random() < 0.5 ? "ping" : "get_state", timeoutMs: 5_000 };
  try {
    const response = await fetch(`${target.url}/v1/devices/${encodeURIComponent(deviceId)}/commands`, {
      method: "POST",
      headers: { authorization: `Bearer ${target.token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    switch (response.status) {
      case 200:
        if (/"ok"\s*:\s*true/.test(text)) tally.ok++;
        else tally.failedByDevice++;
        record(tally, performance.now() - started);
        return;
      case 202:
        tally.queued++;
        return;
      case 409:
        tally.offline++;
        return;
      case 504:
        tally.timeout++;
        return;
      case 429:
        tally.rateLimited++;
        return;
      default:
        tally.errors++;
        tally.lastError = `${response.status} ${text.slice(0, 200)}`;
    }
  } catch (error) {
    tally.errors++;
    tally.lastError = error instanceof Error ? error.message : String(error);
  }
}

/**
 * Sends `ratePerSecond` commands a second to ids picked from `deviceIds()`;
 * `queuedShare` of them with `queue: true`. Returns stop(), which waits for the
 * requests in flight.
 */
export function startRails(
  target: RailsTarget,
  deviceIds: () => string[],
  ratePerSecond: number,
  queuedShare: number,
  tally: CommandTally,
): () => Promise<void> {
  // Bound: MAX_IN_FLIGHT.
  const inFlight = new Set<Promise<void>>();
  if (ratePerSecond <= 0) return async () => {};
  const tickMs = 100;
  let owed = 0;
  const timer = setInterval(() => {
    owed += (ratePerSecond * tickMs) / 1000;
    const ids = deviceIds();
    while (owed >= 1) {
      owed -= 1;
      const id = ids[Math.floor(Math.random() * ids.length)];
      if (id === undefined) continue;
      if (inFlight.size >= MAX_IN_FLIGHT) {
        tally.errors++;
        tally.lastError = `more than ${MAX_IN_FLIGHT} commands in flight`;
        continue;
      }
      const request = sendOne(target, id, Math.random() < queuedShare, tally).finally(() =>
        inFlight.delete(request),
      );
      inFlight.add(request);
    }
  }, tickMs);
  return async () => {
    clearInterval(timer);
    await Promise.allSettled([...inFlight]);
  };
}
