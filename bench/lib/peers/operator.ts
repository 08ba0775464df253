/**
 * What an operator sees (issue 14): VmRSS of a freshly started broker, with no forced GC,
 * 5 s after the last SUBACK of N idle routers opened 250 at a time, and the connect rate
 * (CONNECT with auth + SUBSCRIBE → SUBACK) over those N. The after-GC figures come from
 * idle.ts on another fresh broker; this leg never forces a GC before its reading.
 */
import { readFileSync } from "node:fs";
import type { Socket } from "node:net";
import { loadavg } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { median } from "../../../soak/analysis.js";
import { closeSession, encodeSession, openSession, runPool, type SessionPackets } from "../raw-mqtt.js";
import { type Peer, vmRss } from "./peers.js";

export interface OperatorResult {
  routers: number;
  failures: number;
  firstError: string | undefined;
  /** VmRSS before the routers (after a 300-session warm-up), no forced GC. */
  rssBefore: number;
  /** VmRSS 5 s after the last SUBACK, no forced GC. */
  rssIdle: number;
  /** (rssIdle − rssBefore) / routers, KB. */
  perRouterKb: number;
  /** CONNECT + auth + SUBSCRIBE → SUBACK, routers/s, `concurrency` at a time. */
  connectPerSecond: number;
  /** The broker's CPU time (user + system, /proc/<pid>/stat) per router while they connected, µs:
   * steadier than the rate on a loaded machine. */
  cpuPerConnectUs: number;
  /** 1-minute load average at the start and at the end of the leg. */
  load: [number, number];
}

/**
 * The rounds of one broker's operator leg as one figure each: the median of every number
 * across rounds (failures summed, load from the first round's start to the last one's end).
 * Rounds of the brokers alternate (issue 14): a slow spell of this shared machine then
 * lands on one round of each, not on the whole of one broker's figure.
 */
export function medianOfRounds(rounds: readonly OperatorResult[]): OperatorResult {
  const first = rounds[0];
  const last = rounds[rounds.length - 1];
  if (first === undefined || last === undefined) throw new Error("medianOfRounds: no rounds");
  const mid = (pick: (r: OperatorResult) => number) => median(rounds.map(pick));
  return {
    routers: mid((r) => r.routers),
    failures: rounds.reduce((sum, r) => sum + r.failures, 0),
    firstError: rounds.find((r) => r.firstError !== undefined)?.firstError,
    rssBefore: mid((r) => r.rssBefore),
    rssIdle: mid((r) => r.rssIdle),
    perRouterKb: mid((r) => r.perRouterKb),
    connectPerSecond: mid((r) => r.connectPerSecond),
    cpuPerConnectUs: mid((r) => r.cpuPerConnectUs),
    load: [first.load[0], last.load[1]],
  };
}

/** Source addresses the routers are spread over: 127.0.0.2–9 (loopback answers them all). */
export const SOURCE_ADDRESSES = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 2}`);

export const OPERATOR_SETTLE_MS = 5_000;

/** utime + stime of a process, µs (clock ticks of 10 ms on Linux). */
export function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

export async function operatorLeg(
  peer: Peer,
  routers: number,
  concurrency: number,
  log: (line: string) => void,
): Promise<OperatorResult> {
  const load0 = loadavg()[0] ?? 0;
  const endpoint = (i: number) => ({
    host: "127.0.0.1",
    port: peer.mqttPort,
    localAddress: SOURCE_ADDRESSES[i % SOURCE_ADDRESSES.length],
  });
  const packets: SessionPackets[] = [];
  for (let i = 0; i < routers; i++) packets.push(await encodeSession(`op-${peer.kind}-${i}`, true));
  const warm: SessionPackets[] = [];
  for (let i = 0; i < 300; i++) warm.push(await encodeSession(`op-warm-${peer.kind}-${i}`, true));
  await runPool(warm.length, concurrency, async (i) =>
    closeSession(await openSession(endpoint(i), warm[i] as SessionPackets)),
  );
  await sleep(1_000);
  const rssBefore = vmRss(peer.pid);
  const sockets: Socket[] = [];
  let done = 0;
  const ticker = setInterval(() => log(`    operator: ${done}/${routers}`), 2_000);
  const cpu0 = cpuMicros(peer.pid);
  const started = performance.now();
  const outcome = await runPool(
    routers,
    concurrency,
    async (i) => {
      sockets.push(await openSession(endpoint(i), packets[i] as SessionPackets, 60_000));
    },
    (n) => {
      done = n;
    },
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = cpuMicros(peer.pid) - cpu0;
  clearInterval(ticker);
  await sleep(OPERATOR_SETTLE_MS);
  const rssIdle = vmRss(peer.pid);
  const result: OperatorResult = {
    routers: sockets.length,
    failures: outcome.failures,
    firstError: outcome.firstError,
    rssBefore,
    rssIdle,
    perRouterKb: (rssIdle - rssBefore) / 1024 / Math.max(1, sockets.length),
    connectPerSecond: sockets.length / seconds,
    cpuPerConnectUs: cpu / Math.max(1, sockets.length),
    load: [load0, loadavg()[0] ?? 0],
  };
  log(
    `    operator: ${sockets.length} routers in ${seconds.toFixed(1)} s = ${Math.round(result.connectPerSecond)}/s (${Math.round(result.cpuPerConnectUs)} µs CPU each), ${outcome.failures} failed; VmRSS ${(rssBefore / 2 ** 20).toFixed(1)} → ${(rssIdle / 2 ** 20).toFixed(1)} MB = ${result.perRouterKb.toFixed(2)} KB each (no GC); load ${result.load.map((l) => l.toFixed(1)).join(" → ")}`,
  );
  if (outcome.firstError) log(`    first failure: ${outcome.firstError}`);
  // BENCH_OPERATOR_LATER_S=30,60: VmRSS later still, printed only (does V8's memory reducer give
  // the burst's garbage back on its own, and when?).
  let waited = OPERATOR_SETTLE_MS / 1000;
  for (const at of (process.env.BENCH_OPERATOR_LATER_S ?? "").split(",").filter(Boolean).map(Number)) {
    if (!(at > waited)) continue;
    await sleep((at - waited) * 1000);
    waited = at;
    const later = vmRss(peer.pid);
    log(
      `    operator: ${at} s after the last SUBACK, VmRSS ${(later / 2 ** 20).toFixed(1)} MB = ${((later - rssBefore) / 1024 / Math.max(1, sockets.length)).toFixed(2)} KB each (no GC)`,
    );
  }
  await runPool(sockets.length, 500, (i) => closeSession(sockets[i] as Socket));
  return result;
}
