/**
 * The reconnect storm (issue 14 part 2): N routers on the SDK's backoff, Tether's broker
 * SIGKILLed and started again on the same port, with the default admission limits.
 * The broker runs as operators run it: the built dist/broker/cli.js (scripts/build-broker.mjs),
 * its Node flags, the allocator TETHER_ALLOCATOR picks, configured by environment.
 * The routers come from many loopback source addresses (127.1.x.y, `perSource` each), as a
 * real fleet comes from its routers' own addresses, so the per-address admission limit
 * applies as it would in the field.
 * Measures the time until every router is connected and subscribed again, the broker's
 * peak VmRSS meanwhile against its steady figure, and how spread out the comeback was.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { resolveSettings } from "../../../broker/src/settings.js";
import { deployedAllocator } from "../../../scripts/lib/allocator.js";
import { freePort } from "../../../scripts/lib/ports.js";
import { BrokerProcess } from "../../../soak/broker-process.js";
import { BENCH_API_TOKEN, BENCH_DEVICE_SECRET } from "../ipc.js";
import { encodeSession, type SessionPackets } from "../raw-mqtt.js";
import { Fleet, type FleetCounts } from "./fleet.js";

/** Router i's source address: 127.1.0.1, 127.1.0.2, … with `perSource` routers on each. */
export function sourceAddress(i: number, perSource: number): string {
  const a = Math.floor(i / perSource) + 1;
  return `127.1.${a >> 8}.${a & 255}`;
}

export interface StormResult {
  routers: number;
  sourceAddresses: number;
  /** Routers per source address (the last address may have fewer). */
  perSource: number;
  maxUnauthenticatedPerAddress: number;
  /** "jemalloc" or "glibc": the broker's malloc (TETHER_ALLOCATOR). */
  allocator: string;
  /** VmRSS 5 s after the whole fleet first subscribed (no forced GC). */
  steadyRss: number;
  /** How long after SIGKILL the new broker was started (--down-ms; 0: at once). */
  downMs: number;
  /** SIGKILL → the new broker listening (downMs, process start, module load, listen: its "MQTT on" line). */
  restartMs: number;
  /** SIGKILL → every router connected and subscribed again; null if not within the limit. */
  allBackMs: number | null;
  /** New broker ready → every router back. */
  afterReadyMs: number | null;
  /** Of SIGKILL → a router's SUBACK: 50th, 90th, 99th percentile, ms. */
  backPercentilesMs: [number, number, number];
  /** Most routers back in one 100 ms window, and the mean per 100 ms window over the comeback. */
  peakPer100Ms: number;
  meanPer100Ms: number;
  /** The new broker's highest VmRSS sampled every 100 ms until 5 s after all were back. */
  peakRss: number;
  /** The new broker's VmRSS 5 s after all were back. */
  afterRss: number;
  routersBack: number;
  counts: FleetCounts;
  load: [number, number];
}

const LIMIT_MS = 120_000;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
}

async function waitAllOnline(fleet: Fleet, limitMs: number, tick: () => void): Promise<boolean> {
  const deadline = performance.now() + limitMs;
  while (fleet.counts.online < fleet.size) {
    if (performance.now() > deadline) return false;
    tick();
    await sleep(100);
  }
  return true;
}

export async function stormLeg(
  routers: number,
  perAddress: number | null,
  perSource: number,
  downMs: number,
  log: (line: string) => void,
): Promise<StormResult> {
  const load0 = loadavg()[0] ?? 0;
  const port = await freePort();
  const defaults = resolveSettings({ deviceSecret: "x", brokerApiToken: "y" });
  const maxUnauthenticatedPerAddress = perAddress ?? defaults.maxUnauthenticatedPerAddress;
  const allocator = deployedAllocator();
  const dir = mkdtempSync(join(tmpdir(), "tether-storm-"));
  // The operator's broker: default admission and publish limits, memory mode with its online
  // roster (STATE_DIR), on a fixed port to come back on.
  const env = {
    DEVICE_SECRET: BENCH_DEVICE_SECRET,
    BROKER_API_TOKEN: BENCH_API_TOKEN,
    HOST: "127.0.0.1",
    MQTT_PORT: String(port),
    HTTP_PORT: "0",
    LOG_LEVEL: "warn",
    MEMORY_LOG_INTERVAL_SECONDS: "0",
    STATE_DIR: join(dir, "state"),
    ...(perAddress === null ? {} : { MAX_UNAUTHENTICATED_PER_ADDRESS: String(perAddress) }),
    ...allocator.env,
  };
  let starts = 0;
  // Built (when stale) before the first start only: the restart is timed as systemd restarts
  // the unit, straight into dist/broker/cli.js.
  const start = () => {
    starts++;
    return BrokerProcess.start(env, join(dir, `broker-${starts}.log`), { ensureBuilt: starts === 1 });
  };
  const packets: SessionPackets[] = [];
  for (let i = 0; i < routers; i++) packets.push(await encodeSession(`storm-${i}`, true));
  const endpoint = (i: number) => ({ host: "127.0.0.1", port, localAddress: sourceAddress(i, perSource) });
  const sourceAddresses = Math.ceil(routers / perSource);
  let peer = await start();
  const fleet = new Fleet(packets, endpoint);
  try {
    log(
      `  ${routers} routers from ${sourceAddresses} addresses (${perSource} each), ${allocator.allocator}, ` +
        `broker pid ${peer.pid} on port ${port}`,
    );
    await fleet.start(250);
    if (!(await waitAllOnline(fleet, LIMIT_MS, () => {})))
      throw new Error(`only ${fleet.counts.online}/${routers} online before the storm`);
    fleet.settle();
    await sleep(5_000);
    const steadyRss = peer.vmRss();
    log(`  all online; steady VmRSS ${(steadyRss / 2 ** 20).toFixed(1)} MB; SIGKILL`);
    const failuresBefore = { ...fleet.counts.failures };
    const attemptsBefore = fleet.counts.attempts;
    const killedAt = performance.now();
    await peer.kill();
    // A restart that is not immediate (systemd's RestartSec, a slower host): nothing listens meanwhile.
    if (downMs > 0) await sleep(downMs);
    peer = await start();
    const readyAt = performance.now();
    log(`  new broker pid ${peer.pid} ready after ${Math.round(readyAt - killedAt)} ms`);
    let peakRss = 0;
    const restarted = peer;
    const sample = () => {
      peakRss = Math.max(peakRss, restarted.vmRss());
    };
    let lastLog = performance.now();
    const allBack = await waitAllOnline(fleet, LIMIT_MS, () => {
      sample();
      if (performance.now() - lastLog > 2_000) {
        lastLog = performance.now();
        log(`    ${fleet.counts.online}/${routers} back at ${Math.round(lastLog - killedAt)} ms`);
      }
    });
    const allBackAt = performance.now();
    for (let i = 0; i < 50; i++) {
      sample();
      await sleep(100);
    }
    const afterRss = peer.vmRss();
    const back = Array.from(fleet.onlineAt)
      .filter((t) => t > killedAt)
      .map((t) => t - killedAt)
      .sort((a, b) => a - b);
    const windows = new Map<number, number>();
    for (const t of back) windows.set(Math.floor(t / 100), (windows.get(Math.floor(t / 100)) ?? 0) + 1);
    const first = back[0] ?? 0;
    const last = back[back.length - 1] ?? 0;
    const failures: Record<string, number> = {};
    for (const [k, v] of Object.entries(fleet.counts.failures)) {
      const d = v - (failuresBefore[k] ?? 0);
      if (d > 0) failures[k] = d;
    }
    return {
      routers,
      sourceAddresses,
      perSource,
      maxUnauthenticatedPerAddress,
      allocator: allocator.allocator,
      downMs,
      steadyRss,
      restartMs: readyAt - killedAt,
      allBackMs: allBack ? allBackAt - killedAt : null,
      afterReadyMs: allBack ? allBackAt - readyAt : null,
      backPercentilesMs: [percentile(back, 0.5), percentile(back, 0.9), percentile(back, 0.99)],
      peakPer100Ms: Math.max(0, ...windows.values()),
      meanPer100Ms: back.length / Math.max(1, Math.ceil((last - first) / 100)),
      peakRss,
      afterRss,
      routersBack: back.length,
      counts: { online: fleet.counts.online, attempts: fleet.counts.attempts - attemptsBefore, failures },
      load: [load0, loadavg()[0] ?? 0],
    };
  } finally {
    fleet.stop();
    await peer.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
