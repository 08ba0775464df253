/**
 * The reconnect storm (issue 14 part 2): N routers on the SDK's backoff, Tether's broker
 * SIGKILLed and started again on the same port, with the default admission limits.
 * Measures the time until every router is connected and subscribed again, the broker's
 * peak VmRSS meanwhile against its steady figure, and how spread out the comeback was.
 */
import { loadavg } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { resolveSettings } from "../../../broker/src/settings.js";
import { freePort } from "../../../scripts/lib/ports.js";
import { SOURCE_ADDRESSES } from "../peers/operator.js";
import { type Peer, startNodePeer, vmRss } from "../peers/peers.js";
import { encodeSession, type SessionPackets } from "../raw-mqtt.js";
import { Fleet, type FleetCounts } from "./fleet.js";

export interface StormResult {
  routers: number;
  sourceAddresses: number;
  maxUnauthenticatedPerAddress: number;
  /** VmRSS 5 s after the whole fleet first subscribed (no forced GC). */
  steadyRss: number;
  /** SIGKILL → the new broker answering (process start, module load, listen). */
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
  log: (line: string) => void,
): Promise<StormResult> {
  const load0 = loadavg()[0] ?? 0;
  const port = await freePort();
  const defaults = resolveSettings({ deviceSecret: "x", brokerApiToken: "y" });
  // The operator's broker: its default admission and publish limits, on a fixed port to come back on.
  const settings = {
    mqttPort: port,
    maxUnauthenticatedPerAddress: perAddress ?? defaults.maxUnauthenticatedPerAddress,
    devicePublishRate: defaults.devicePublishRate,
    devicePublishBurst: defaults.devicePublishBurst,
  };
  const packets: SessionPackets[] = [];
  for (let i = 0; i < routers; i++) packets.push(await encodeSession(`storm-${i}`, true));
  const endpoint = (i: number) => ({
    host: "127.0.0.1",
    port,
    localAddress: SOURCE_ADDRESSES[i % SOURCE_ADDRESSES.length],
  });
  let peer: Peer = await startNodePeer("tether", undefined, settings);
  const fleet = new Fleet(packets, endpoint);
  try {
    log(
      `  ${routers} routers from ${SOURCE_ADDRESSES.length} addresses, broker pid ${peer.pid} on port ${port}`,
    );
    await fleet.start(250);
    if (!(await waitAllOnline(fleet, LIMIT_MS, () => {})))
      throw new Error(`only ${fleet.counts.online}/${routers} online before the storm`);
    fleet.settle();
    await sleep(5_000);
    const steadyRss = vmRss(peer.pid);
    log(`  all online; steady VmRSS ${(steadyRss / 2 ** 20).toFixed(1)} MB; SIGKILL`);
    const failuresBefore = { ...fleet.counts.failures };
    const attemptsBefore = fleet.counts.attempts;
    const killedAt = performance.now();
    await peer.kill();
    peer = await startNodePeer("tether", undefined, settings);
    const readyAt = performance.now();
    log(`  new broker pid ${peer.pid} ready after ${Math.round(readyAt - killedAt)} ms`);
    let peakRss = 0;
    const newPid = peer.pid;
    const sample = () => {
      peakRss = Math.max(peakRss, vmRss(newPid));
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
    const afterRss = vmRss(peer.pid);
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
      sourceAddresses: SOURCE_ADDRESSES.length,
      maxUnauthenticatedPerAddress: settings.maxUnauthenticatedPerAddress,
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
    await peer.close();
  }
}
