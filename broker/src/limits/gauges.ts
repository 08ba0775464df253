import { Gauge, type Registry } from "prom-client";
import type { ConnectionAdmission } from "./admission.js";
import type { PublishRateLimiter } from "./publish-rate.js";

/**
 * The limiters' own state as gauges, read on each scrape:
 * `tether_sockets` (open MQTT sockets, authenticated or not: what MAX_CONNECTIONS
 * bounds) and `tether_limiter_entries{limiter}` (addresses and devices tracked:
 * bounded by maxTrackedAddresses / maxTrackedDevices).
 */
export function limiterGauges(
  registry: Registry,
  admission: ConnectionAdmission,
  limiter: PublishRateLimiter,
): void {
  new Gauge({
    name: "tether_sockets",
    help: "Open MQTT sockets, authenticated or not (bounded by MAX_CONNECTIONS)",
    registers: [registry],
    collect() {
      this.set(admission.open);
    },
  });
  new Gauge({
    name: "tether_limiter_entries",
    help: "Entries the admission (limiter=address) and publish-rate (limiter=device) limiters track",
    labelNames: ["limiter"],
    registers: [registry],
    collect() {
      this.set({ limiter: "address" }, admission.trackedAddresses);
      this.set({ limiter: "device" }, limiter.trackedDevices);
    },
  });
}
