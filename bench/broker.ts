/**
 * `npm run bench:broker [-- --connections N]`: idle memory per connection,
 * connect and churn rates of Tether's broker beside bare Aedes 1.2, and
 * Tether's memory after 20,000 unique persistent sessions have churned and
 * expired (issue 2, "Bar"). Each broker runs in its own child process; this
 * process is the client. Writes docs/BENCHMARKS.md. Not a test.
 */
import { execFileSync } from "node:child_process";
import type { Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { BrokerChild, type ChildMeasurement } from "./lib/broker-child.js";
import type { BrokerKind } from "./lib/ipc.js";
import {
  closeSession,
  type Endpoint,
  encodeSession,
  openSession,
  runPool,
  type SessionPackets,
} from "./lib/raw-mqtt.js";
import { type ExpiryResult, type IdleResult, machine, writeReport } from "./lib/report.js";

const HELP = `Usage: npm run bench:broker -- [options]

Measures, for bare Aedes 1.2 and Tether's broker (each in its own process, on ephemeral ports):
  - RSS per idle connection with N open MQTT connections (clean=false, keepalive 300);
  - connect rate and churn rate (connect+disconnect cycles/s, unique ids);
  - memory after S unique persistent sessions churned and expired (SESSION_EXPIRY_SECONDS=1), twice.
Then writes the figures to docs/BENCHMARKS.md ("Broker: idle memory and churn").

Options:
  --connections N   idle connections (default 10000)
  --churn N         connect+disconnect cycles for the churn rate (default: same as --connections)
  --sessions N      persistent sessions per expiry round (default 20000; 0 skips this part)
  --concurrency N   connections opened at once (default 100)
  --subscribe       idle routers also SUBSCRIBE to their commands topic (QoS 1)
  --only KIND       aedes or tether
  --no-write        print the figures, do not touch docs/BENCHMARKS.md
  --help            this text

Needs Linux (/proc) and \`ulimit -n\` above N + 1024.`;

const { values } = parseArgs({
  options: {
    connections: { type: "string", default: "10000" },
    churn: { type: "string" },
    sessions: { type: "string", default: "20000" },
    concurrency: { type: "string", default: "100" },
    subscribe: { type: "boolean", default: false },
    only: { type: "string" },
    "no-write": { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});

function count(name: string, text: string | undefined, min = 1): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) {
    console.error(`--${name} must be a whole number ≥ ${min} (got "${text}")`);
    process.exit(2);
  }
  return n;
}

const log = (line: string) => process.stderr.write(`${line}\n`);
const kb = (bytes: number) => bytes / 1024;

/** Each broker and this client hold one descriptor per connection. */
function checkFileLimit(connections: number): void {
  const needed = connections + 1024;
  const soft = Number(execFileSync("sh", ["-c", "ulimit -n"], { encoding: "utf8" }).trim());
  if (Number.isFinite(soft) && soft < needed) {
    const hard = execFileSync("sh", ["-c", "ulimit -Hn"], { encoding: "utf8" }).trim();
    console.error(
      `ulimit -n is ${soft}, but ${connections} connections need at least ${needed} open files per process ` +
        `(hard limit: ${hard}). Run \`ulimit -n ${needed}\` in this shell first, or pass --connections ${Math.max(1, soft - 1024)}.`,
    );
    process.exit(1);
  }
}

async function encodeAll(prefix: string, n: number, subscribe: boolean): Promise<SessionPackets[]> {
  const packets: SessionPackets[] = [];
  for (let i = 0; i < n; i++) packets.push(await encodeSession(`${prefix}-${i}`, subscribe));
  return packets;
}

/** Runs a pool with a progress line each second; returns the rate in operations per second. */
async function timed(
  label: string,
  total: number,
  concurrency: number,
  task: (index: number) => Promise<void>,
): Promise<{ perSecond: number; failures: number }> {
  let done = 0;
  const started = performance.now();
  const ticker = setInterval(() => {
    const seconds = (performance.now() - started) / 1000;
    log(`    ${label}: ${done}/${total} (${Math.round(done / seconds)}/s)`);
  }, 1000);
  const outcome = await runPool(total, concurrency, task, (n) => {
    done = n;
  });
  clearInterval(ticker);
  const seconds = (performance.now() - started) / 1000;
  const perSecond = total / seconds;
  log(
    `    ${label}: ${total} in ${seconds.toFixed(1)} s = ${Math.round(perSecond)}/s, ${outcome.failures} failed`,
  );
  if (outcome.firstError) log(`    first failure: ${outcome.firstError}`);
  return { perSecond, failures: outcome.failures };
}

async function waitForCounts(
  broker: BrokerChild,
  done: (m: ChildMeasurement) => boolean,
  timeoutMs: number,
): Promise<ChildMeasurement> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const m = await broker.measure();
    if (done(m) || performance.now() > deadline) return m;
    await sleep(500);
  }
}

function describe(m: ChildMeasurement): string {
  const counts = Object.entries(m.counts)
    .map(([k, v]) => `${k}=${v}`)
    .join(" ");
  return `RSS ${(m.vmRssBytes / 2 ** 20).toFixed(1)} MB, heap ${(m.heapUsedBytes / 2 ** 20).toFixed(1)} MB, ${counts}`;
}

async function churn(endpoint: Endpoint, packets: SessionPackets[], concurrency: number, label: string) {
  return timed(label, packets.length, concurrency, async (i) => {
    const socket = await openSession(endpoint, packets[i] as SessionPackets);
    await closeSession(socket);
  });
}

async function idleBench(kind: BrokerKind, o: Options): Promise<IdleResult> {
  log(`\n[${kind}] idle connections and churn`);
  const broker = await BrokerChild.start(kind);
  try {
    const endpoint = { host: "127.0.0.1", port: broker.mqttPort };
    const warmup = await encodeAll(`warm-${kind}`, 500, o.subscribe);
    await churn(endpoint, warmup, o.concurrency, "warm-up churn");
    const idlePackets = await encodeAll(`idle-${kind}`, o.connections, o.subscribe);
    const churnPackets = await encodeAll(`churn-${kind}`, o.churn, false);

    const baseline = await broker.measure();
    log(`    baseline: ${describe(baseline)}`);
    const sockets: Socket[] = [];
    const connect = await timed("connecting", o.connections, o.concurrency, async (i) => {
      sockets.push(await openSession(endpoint, idlePackets[i] as SessionPackets));
    });
    await sleep(2_000);
    const loaded = await broker.measure();
    log(`    ${sockets.length} idle: ${describe(loaded)}`);
    const open = sockets.length;
    const perConnectionKb = kb(loaded.vmRssBytes - baseline.vmRssBytes) / open;
    const heapPerConnectionKb = kb(loaded.heapUsedBytes - baseline.heapUsedBytes) / open;
    log(
      `    => ${perConnectionKb.toFixed(2)} KB RSS and ${heapPerConnectionKb.toFixed(2)} KB heap per idle connection`,
    );

    await runPool(sockets.length, 500, (i) => closeSession(sockets[i] as Socket));
    await waitForCounts(broker, (m) => m.counts.clients === 0, 30_000);
    const churned = await churn(endpoint, churnPackets, o.concurrency, "churn");
    return {
      kind,
      connections: open,
      connectFailures: connect.failures,
      baseline,
      loaded,
      perConnectionKb,
      heapPerConnectionKb,
      connectPerSecond: connect.perSecond,
      churnPerSecond: churned.perSecond,
      churnFailures: churned.failures,
    };
  } finally {
    await broker.close();
  }
}

async function expiryBench(kind: BrokerKind, o: Options): Promise<ExpiryResult> {
  log(`\n[${kind}] ${o.sessions} unique persistent sessions, churned and expired, twice`);
  const broker = await BrokerChild.start(kind, { sessionExpirySeconds: 1, reaperIntervalMs: 500 });
  // Bare Aedes never expires a session: it only gets time for its own cleanup.
  const expired = (m: ChildMeasurement) => kind !== "tether" || m.counts.persistentSessions === 0;
  try {
    const endpoint = { host: "127.0.0.1", port: broker.mqttPort };
    await churn(endpoint, await encodeAll(`xwarm-${kind}`, 1_000, true), o.concurrency, "warm-up churn");
    await sleep(1_500);
    const baseline = await waitForCounts(broker, expired, 60_000);
    log(`    baseline: ${describe(baseline)}`);
    const rounds: ChildMeasurement[] = [];
    for (const round of [1, 2]) {
      const packets = await encodeAll(`x${round}-${kind}`, o.sessions, true);
      const churned = await churn(endpoint, packets, o.concurrency, `round ${round} churn`);
      if (churned.failures > 0) log(`    round ${round}: ${churned.failures} sessions failed to open`);
      const before = await broker.measure();
      log(`    round ${round} before expiry: ${describe(before)}`);
      await sleep(1_500);
      const after = await waitForCounts(broker, expired, 120_000);
      log(`    round ${round} after expiry: ${describe(after)}`);
      rounds.push(after);
    }
    return { kind, sessions: o.sessions, baseline, rounds };
  } finally {
    await broker.close();
  }
}

interface Options {
  connections: number;
  churn: number;
  sessions: number;
  concurrency: number;
  subscribe: boolean;
}

async function main(): Promise<void> {
  if (values.help) {
    console.log(HELP);
    return;
  }
  const connections = count("connections", values.connections);
  const o: Options = {
    connections,
    churn: values.churn === undefined ? connections : count("churn", values.churn),
    sessions: count("sessions", values.sessions, 0),
    concurrency: count("concurrency", values.concurrency),
    subscribe: values.subscribe,
  };
  if (values.only !== undefined && values.only !== "aedes" && values.only !== "tether") {
    console.error(`--only must be aedes or tether (got "${values.only}")`);
    process.exit(2);
  }
  const kinds: BrokerKind[] = values.only ? [values.only] : ["aedes", "tether"];
  checkFileLimit(connections);
  const env = machine();
  log(`Broker bench: ${env.cpus} × ${env.cpuModel}, Node ${env.node}; ${JSON.stringify(o)}`);

  const idle: IdleResult[] = [];
  const expiry: ExpiryResult[] = [];
  for (const kind of kinds) idle.push(await idleBench(kind, o));
  if (o.sessions > 0) for (const kind of kinds) expiry.push(await expiryBench(kind, o));

  const args = process.argv.slice(2).join(" ");
  const command = args ? `npm run bench:broker -- ${args}` : "npm run bench:broker";
  const text = writeReport({ idle, expiry, options: o, machine: env, command }, !values["no-write"]);
  console.log(text);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
