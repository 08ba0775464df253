/**
 * `npm run bench:desired [-- --routers 200]`: desired state at fleet scale (issue 15).
 * Starts a real system (broker process, edge on workerd, as `npm start`
 * does), connects N SDK routers whose handler applies desired state, PATCHes every
 * router's desired state at once through the edge (Rails' API), and times until the edge
 * shows every router converged (reportedDesiredVersion = 1, empty delta). Prints the
 * figures; docs/BENCHMARKS.md keeps them. Not a test; nothing is written.
 */
import { parseArgs } from "node:util";
import { connectDevice, type Device } from "../device-sdk/src/index.js";
import { bearer, devicePassword, isRecord } from "../protocol/src/index.js";
import { freePort } from "../scripts/lib/ports.js";
import { startSystem } from "../scripts/lib/system.js";

const { values } = parseArgs({ options: { routers: { type: "string", default: "200" } } });
const ROUTERS = Number(values.routers);
const host = "127.0.0.1";

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function main(): Promise<void> {
  const system = await startSystem({
    host,
    mqttPort: await freePort(host),
    httpPort: await freePort(host),
    edgePort: await freePort(host),
    // Quiet broker logs; a fleet connecting at once must not look like a flood.
    brokerEnv: { LOG_LEVEL: "warn", MAX_UNAUTHENTICATED_PER_ADDRESS: "1000", AUTH_FAILURE_BURST: "1000" },
    output: null,
    readyTimeoutMs: 90_000,
  });
  const devices: Device[] = [];
  try {
    const { edge, mqtt } = system.urls;
    const rails = bearer(system.secrets.RAILS_API_TOKEN);
    const appliedAt = new Map<string, number>();
    const ids = Array.from({ length: ROUTERS }, (_, i) => `bench-desired-${i}`);
    for (const id of ids) {
      const device = connectDevice({
        deviceId: id,
        password: await devicePassword(system.secrets.DEVICE_SECRET, id),
        url: mqtt,
        keepalive: 30,
      });
      device.on("error", () => {});
      device.onDesired((desired) => {
        appliedAt.set(id, performance.now());
        return desired;
      });
      devices.push(device);
    }
    await Promise.all(devices.map((device) => device.whenOnline()));
    const view = async (id: string): Promise<Record<string, unknown>> => {
      const response = await fetch(`${edge}/v1/devices/${id}`, { headers: { authorization: rails } });
      const body: unknown = await response.json();
      return isRecord(body) ? body : {};
    };
    // Every router online at the edge first: the figure is the patch's, not the connects'.
    for (;;) {
      const views = await Promise.all(ids.map(view));
      if (views.every((v) => v.online === true)) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }

    const started = performance.now();
    const patchLatency: number[] = [];
    await Promise.all(
      ids.map(async (id, i) => {
        const sent = performance.now();
        const response = await fetch(`${edge}/v1/devices/${id}/desired`, {
          method: "PATCH",
          headers: { authorization: rails, "content-type": "application/merge-patch+json" },
          body: JSON.stringify({ wifi: { ssid: `fleet-${i}`, band: "5GHz" }, firmwareChannel: "stable" }),
        });
        if (response.status !== 200) throw new Error(`PATCH ${id} → ${response.status}`);
        patchLatency.push(performance.now() - sent);
      }),
    );
    const patched = performance.now() - started;
    const convergedAt = new Map<string, number>();
    while (convergedAt.size < ROUTERS) {
      const pending = ids.filter((id) => !convergedAt.has(id));
      const views = await Promise.all(pending.map(view));
      const now = performance.now();
      views.forEach((v, i) => {
        const id = pending[i];
        if (id && v.reportedDesiredVersion === 1 && isRecord(v.delta) && Object.keys(v.delta).length === 0) {
          convergedAt.set(id, now);
        }
      });
      if (now - started > 120_000)
        throw new Error(`only ${convergedAt.size} of ${ROUTERS} converged in 120 s`);
      if (convergedAt.size < ROUTERS) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const all = Math.max(...convergedAt.values()) - started;
    const applied = [...appliedAt.values()].map((t) => t - started).sort((a, b) => a - b);
    const latencies = patchLatency.sort((a, b) => a - b);
    const ms = (value: number) => `${Math.round(value)} ms`;
    console.log(`desired state: ${ROUTERS} routers patched at once through the edge`);
    console.log(
      `  all ${ROUTERS} PATCHes answered      ${ms(patched)} (p50 ${ms(percentile(latencies, 50))}, p95 ${ms(percentile(latencies, 95))})`,
    );
    console.log(
      `  applied on the routers             p50 ${ms(percentile(applied, 50))}, p95 ${ms(percentile(applied, 95))}, last ${ms(applied.at(-1) ?? Number.NaN)}`,
    );
    console.log(`  all converged at the edge          ${ms(all)} (view polled every 100 ms)`);
  } finally {
    await Promise.all(devices.map((device) => device.close()));
    await system.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
