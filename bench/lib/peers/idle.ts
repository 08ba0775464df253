import type { Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { closeSession, encodeSession, openSession, runPool, type SessionPackets } from "../raw-mqtt.js";
import type { Peer, PeerMeasurement } from "./peers.js";

export interface IdleResult {
  connections: number;
  connectFailures: number;
  baseline: PeerMeasurement;
  loaded: PeerMeasurement;
  rssPerConnectionKb: number;
  connectPerSecond: number;
  churnPerSecond: number;
  churnFailures: number;
}

const log = (line: string) => process.stderr.write(`${line}\n`);

async function encodeAll(prefix: string, n: number, subscribe: boolean): Promise<SessionPackets[]> {
  const packets: SessionPackets[] = [];
  for (let i = 0; i < n; i++) packets.push(await encodeSession(`${prefix}-${i}`, subscribe));
  return packets;
}

async function timedPool(
  label: string,
  total: number,
  concurrency: number,
  task: (i: number) => Promise<void>,
) {
  let done = 0;
  const started = performance.now();
  const ticker = setInterval(() => log(`    ${label}: ${done}/${total}`), 2_000);
  const outcome = await runPool(total, concurrency, task, (n) => {
    done = n;
  });
  clearInterval(ticker);
  const perSecond = total / ((performance.now() - started) / 1000);
  log(
    `    ${label}: ${total} in ${((performance.now() - started) / 1000).toFixed(1)} s = ${Math.round(perSecond)}/s, ${outcome.failures} failed`,
  );
  if (outcome.firstError) log(`    first failure: ${outcome.firstError}`);
  return { perSecond, failures: outcome.failures };
}

/**
 * N idle routers (clean=false, keepalive 300, subscribed to their commands topic
 * at QoS 1, as the SDK does): RSS per connection from the broker's VmRSS before
 * and after, then the connect rate, then C connect+disconnect cycles with unique ids.
 */
export async function idleAndChurn(
  peer: Peer,
  connections: number,
  churn: number,
  concurrency: number,
): Promise<IdleResult> {
  const endpoint = { host: "127.0.0.1", port: peer.mqttPort };
  const warm = await encodeAll(`warm-${peer.kind}`, 300, true);
  await runPool(warm.length, concurrency, async (i) =>
    closeSession(await openSession(endpoint, warm[i] as SessionPackets)),
  );
  const idle = await encodeAll(`idle-${peer.kind}`, connections, true);
  const churnPackets = await encodeAll(`churn-${peer.kind}`, churn, false);
  await sleep(1_000);
  const baseline = await peer.measure();
  const sockets: Socket[] = [];
  const connect = await timedPool("connecting", connections, concurrency, async (i) => {
    sockets.push(await openSession(endpoint, idle[i] as SessionPackets));
  });
  await sleep(2_000);
  const loaded = await peer.measure();
  const rssPerConnectionKb = (loaded.rss - baseline.rss) / 1024 / Math.max(1, sockets.length);
  log(`    ${sockets.length} idle: ${rssPerConnectionKb.toFixed(2)} KB RSS each`);
  await runPool(sockets.length, 500, (i) => closeSession(sockets[i] as Socket));
  const churned = await timedPool("churn", churn, concurrency, async (i) => {
    await closeSession(await openSession(endpoint, churnPackets[i] as SessionPackets));
  });
  return {
    connections: sockets.length,
    connectFailures: connect.failures,
    baseline,
    loaded,
    rssPerConnectionKb,
    connectPerSecond: connect.perSecond,
    churnPerSecond: churned.perSecond,
    churnFailures: churned.failures,
  };
}
