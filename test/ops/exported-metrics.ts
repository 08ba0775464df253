import { api, startTestBroker } from "../broker/helpers.js";

/** A metric family as a running broker's GET /metrics declares it. */
export interface ExportedMetric {
  type: string;
  /** Label names its collector was created with (empty for none). */
  labels: string[];
}

/**
 * Every family a real broker exports on /metrics (its `# TYPE` lines), with the label
 * names of its collector. The broker is closed by the caller's cleanupAll().
 */
export async function exportedMetrics(): Promise<Map<string, ExportedMetric>> {
  const broker = await startTestBroker();
  const { status, body } = await api(broker, "/metrics");
  if (status !== 200 || typeof body !== "string") throw new Error(`/metrics answered ${status}`);
  const families = new Map<string, ExportedMetric>();
  for (const [, name = "", type = ""] of body.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const collector = broker.metrics.registry.getSingleMetric(name);
    // prom-client keeps the names on the collector without typing them: read and check.
    const labelNames: unknown = collector ? Reflect.get(collector, "labelNames") : [];
    const labels = Array.isArray(labelNames) ? labelNames.filter((l) => typeof l === "string") : [];
    families.set(name, { type, labels });
  }
  return families;
}
