/** One reason the broker is degraded (CONTRACT.md "Additions": `/healthz` 503). */
export interface HealthReason {
  code: "edge_unreachable" | "redis_unreachable";
  message: string;
  /** Epoch ms since when. */
  since: number;
}

/** The body of `GET /healthz`: 200 when `ok`, 503 when `degraded`. */
export type HealthReport =
  | { ok: true; status: "ok" }
  | { ok: false; status: "degraded"; reasons: HealthReason[] };

/** What the broker watches to say it is degraded; each returns null while healthy. */
export interface HealthSources {
  /** The forwarder's edge problem, once it has lasted EDGE degradedAfterMs. */
  edge?: () => { since: number; reason: string } | null;
  /** Redis mode: a connection that is not ready. */
  redis?: () => { since: number; reason: string } | null;
}

/**
 * `degraded` while the edge has refused or not answered event batches for longer than
 * a grace period, or Redis is unreachable (issue 12), so a load balancer and an
 * operator can see it. Both recover on their own: the forwarder keeps retrying and
 * ioredis reconnects; the next good answer clears the reason.
 */
export function healthReport(sources: HealthSources): HealthReport {
  const reasons: HealthReason[] = [];
  const edge = sources.edge?.();
  if (edge) {
    const seconds = Math.round((Date.now() - edge.since) / 1000);
    reasons.push({
      code: "edge_unreachable",
      message: `the edge has refused or not answered event batches for ${seconds} s (last: ${edge.reason}); events wait in the forwarder`,
      since: edge.since,
    });
  }
  const redis = sources.redis?.();
  if (redis) {
    reasons.push({
      code: "redis_unreachable",
      message: `${redis.reason}; new connections are refused (CONNACK 3) until it is back`,
      since: redis.since,
    });
  }
  return reasons.length === 0 ? { ok: true, status: "ok" } : { ok: false, status: "degraded", reasons };
}
