import type { Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { median } from "../../../soak/analysis.js";
import { closeSession, encodeSession, openSession, runPool, type SessionPackets } from "../raw-mqtt.js";
import type { Peer, PeerMeasurement } from "./peers.js";

export interface IdleResult {
  connections: number;
  connectFailures: number;
  baseline: PeerMeasurement;
  loaded: PeerMeasurement;
  /** Median over the steps of (RSS after the step − RSS before it) / connections in the step. */
  rssPerConnectionKb: number;
  /** The same per step, in order: one bad reading moves one step, not the median. */
  rssStepsKb: number[];
  /** (loaded − baseline) / connections: the single difference, noisier. */
  rssOverallKb: number;
  connectPerSecond: number;
  churnPerSecond: number;
  churnFailures: number;
}

const log = (line: string) => process.stderr.write(`${line}\n`);

/** Steps the idle connections are opened in, with a measurement after each. */
const STEPS = 5;

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
 * at QoS 1, as the SDK does), opened in five steps: RSS per connection is the median
 * step's VmRSS growth per connection; then the connect rate, then C
 * connect+disconnect cycles with unique ids.
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
  // In STEPS steps, measured after each: the per-connection figure is the median step,
  // because a single RSS difference moved by several KB per connection between runs.
  const stepSize = Math.ceil(connections / STEPS);
  const rssStepsKb: number[] = [];
  let previous = baseline;
  let connectSeconds = 0;
  let connectFailures = 0;
  for (let from = 0; from < connections; from += stepSize) {
    const count = Math.min(stepSize, connections - from);
    const before = sockets.length;
    const step = await timedPool(
      `connecting ${from + count}/${connections}`,
      count,
      concurrency,
      async (i) => {
        sockets.push(await openSession(endpoint, idle[from + i] as SessionPackets));
      },
    );
    connectSeconds += count / step.perSecond;
    connectFailures += step.failures;
    await sleep(1_000);
    const reading = await peer.measure();
    const opened = sockets.length - before;
    if (opened > 0) rssStepsKb.push((reading.rss - previous.rss) / 1024 / opened);
    previous = reading;
  }
  const connect = { perSecond: connections / Math.max(connectSeconds, 1e-9), failures: connectFailures };
  await sleep(1_000);
  const loaded = await peer.measure();
  const rssOverallKb = (loaded.rss - baseline.rss) / 1024 / Math.max(1, sockets.length);
  const rssPerConnectionKb = rssStepsKb.length > 0 ? median(rssStepsKb) : rssOverallKb;
  log(
    `    ${sockets.length} idle: ${rssPerConnectionKb.toFixed(2)} KB RSS each (median step; steps ${rssStepsKb.map((k) => k.toFixed(2)).join(", ")}; overall ${rssOverallKb.toFixed(2)})`,
  );
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
    rssStepsKb,
    rssOverallKb,
    connectPerSecond: connect.perSecond,
    churnPerSecond: churned.perSecond,
    churnFailures: churned.failures,
  };
}
