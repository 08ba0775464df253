/**
 * The Peers bench's legs on one broker at a time (`npm run bench`, bench/run.ts): the operator
 * leg in alternating rounds (issue 14), then the after-GC legs, churn, fan-in and round trips.
 */
import { randomBytes } from "node:crypto";
import { startEventsSink } from "../../../soak/events-sink.js";
import { log } from "../run-legs.js";
import { type FanInResult, fanIn, startCountingSubscriber } from "./fan-in.js";
import { idleAndChurn } from "./idle.js";
import { medianOfRounds, type OperatorResult, operatorLeg } from "./operator.js";
import { PEER_LABEL, type Peer, type PeerKind, startMosquitto, startNodePeer } from "./peers.js";
import { mqttRoundTrips, tetherRoundTrips } from "./round-trip.js";
import type { PeerResult, PeersReport } from "./section.js";

/** The operator leg's broker as deployed; the after-GC legs' on glibc ("lab", bench/lib/peers/peers.ts). */
function startPeer(
  kind: PeerKind,
  allocator: "deployed" | "lab",
  sink?: { url: string; secret: string },
): Promise<Peer> {
  return kind === "mosquitto" ? startMosquitto() : startNodePeer(kind, sink, undefined, allocator);
}

/** One round of the operator leg on a broker of its own, so no forced GC of the other legs precedes it. */
async function benchOperator(
  kind: PeerKind,
  routers: number,
  label: string,
): Promise<{ round: OperatorResult | null; error: string | null; ports: number[]; pid: number }> {
  log(`\n[${PEER_LABEL[kind]}: operator${label}, ${routers} routers ${OPERATOR_CONCURRENCY} at a time]`);
  const peer = await startPeer(kind, "deployed");
  try {
    return {
      round: await operatorLeg(peer, routers, OPERATOR_CONCURRENCY, log),
      error: null,
      ports: peer.ports(),
      pid: peer.pid,
    };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log(`  failed: ${message}`);
    return { round: null, error: message, ports: peer.ports(), pid: peer.pid };
  } finally {
    await peer.close();
  }
}

/** Routers opened at once by the operator leg, as issue 14 measured. */
const OPERATOR_CONCURRENCY = 250;

/**
 * The operator leg, `rounds` times, the brokers alternating (Tether, bare Aedes, Mosquitto; then
 * bare Aedes, Mosquitto, Tether; …), each round on a fresh broker; each broker's figure is the
 * median of its rounds.
 */
export async function benchOperatorRounds(results: PeerResult[], routers: number, rounds: number) {
  const cleanup: Array<{ kind: PeerKind; ports: number[]; pid: number }> = [];
  // A run's first leg was slow: Tether's, in six runs on 2026-11-30, 2,050-3,237 routers/s
  // (median 2,510) against 1,986-3,833 (median 3,012) in its later rounds — the bench's own
  // client code is cold then. So one unreported leg of a few thousand routers warms it first.
  const first = results[0];
  if (first && rounds > 1) {
    const warm = await benchOperator(first.kind, Math.min(routers, 5_000), ", warm-up (not reported)");
    cleanup.push({ kind: first.kind, ports: warm.ports, pid: warm.pid });
  }
  for (let round = 1; round <= rounds; round++) {
    // And each round starts with the next broker, so no broker always goes first.
    const shift = (round - 1) % results.length;
    for (const result of [...results.slice(shift), ...results.slice(0, shift)]) {
      const run = await benchOperator(
        result.kind,
        routers,
        rounds > 1 ? `, round ${round} of ${rounds}` : "",
      );
      if (run.round) result.operatorRounds.push(run.round);
      else result.error ??= run.error;
      cleanup.push({ kind: result.kind, ports: run.ports, pid: run.pid });
    }
  }
  for (const result of results)
    if (result.operatorRounds.length > 0) result.operator = medianOfRounds(result.operatorRounds);
  return cleanup;
}

export async function benchPeer(
  result: PeerResult,
  o: PeersReport["options"],
  concurrency: number,
): Promise<{ ports: number[]; pid: number }> {
  const kind = result.kind;
  log(`\n[${PEER_LABEL[kind]}]`);
  const secret = randomBytes(16).toString("hex");
  const sink = kind === "tether" ? await startEventsSink(secret) : null;
  const peer = await startPeer(kind, "lab", sink ? { url: sink.url, secret } : undefined);
  try {
    log(
      `  pid ${peer.pid}, MQTT port ${peer.mqttPort}${peer.httpPort ? `, HTTP port ${peer.httpPort}` : ""}`,
    );
    log("  idle routers, connect and churn");
    result.idle = await idleAndChurn(peer, o.connections, o.churn, concurrency);

    log(`  QoS 1 fan-in: ${o.publishers} publishers × ${o.perPublisher}`);
    const endpoint = { host: "127.0.0.1", port: peer.mqttPort };
    let fan: FanInResult;
    if (sink) {
      fan = await fanIn(endpoint, "fan", o.publishers, o.perPublisher, () => sink.tally.byType.event ?? 0);
    } else {
      const subscriber = await startCountingSubscriber(endpoint);
      fan = await fanIn(endpoint, "fan", o.publishers, o.perPublisher, subscriber.count);
      subscriber.close();
    }
    result.fanIn = fan;
    log(
      `    accepted ${Math.round(fan.acceptedPerSecond)}/s, delivered ${fan.delivered}/${fan.messages} at ${Math.round(fan.deliveredPerSecond)}/s`,
    );

    log(`  command round trips: ${o.rate}/s for ${o.seconds} s`);
    const mqttUrl = `mqtt://127.0.0.1:${peer.mqttPort}`;
    result.roundTrip =
      peer.httpPort !== null
        ? await tetherRoundTrips(`http://127.0.0.1:${peer.httpPort}`, mqttUrl, o.devices, o.rate, o.seconds)
        : await mqttRoundTrips(mqttUrl, o.devices, o.rate, o.seconds);
    const rt = result.roundTrip;
    log(
      `    ${rt.ok}/${rt.sent} ok, p50 ${rt.p50?.toFixed(2)} ms, p99 ${rt.p99?.toFixed(2)} ms${rt.firstFailure ? `, first failure: ${rt.firstFailure}` : ""}`,
    );
  } catch (error) {
    result.error = error instanceof Error ? error.message : String(error);
    log(`  failed: ${result.error}`);
  } finally {
    await peer.close();
    await sink?.close();
  }
  return { ports: peer.ports(), pid: peer.pid };
}
