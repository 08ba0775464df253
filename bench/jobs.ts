/**
 * `npm run bench:jobs`: a fleet job (issue 16) over N simulated routers (SDK routers,
 * mqtt.js) at a rate, through the local system as `npm start` runs it (broker in memory,
 * edge on workerd, inspector off). Reports wall time, the rate kept (edge side and
 * routers' side), the most commands any router-side second saw, and the CPU seconds the
 * broker and the edge (workerd) spent during the job. Not a test.
 *
 *   npm run bench:jobs -- --routers 10000 --rate 500
 */
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { connectDevice, type Device } from "../device-sdk/src/index.js";
import { bearer, devicePassword } from "../protocol/src/index.js";
import { freePort } from "../scripts/lib/ports.js";
import { maxPerWindow } from "../scripts/lib/rate-window.js";
import { startSystem } from "../scripts/lib/system.js";

const { values } = parseArgs({
  options: {
    routers: { type: "string", default: "10000" },
    rate: { type: "string", default: "500" },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  process.stdout.write("npm run bench:jobs -- [--routers N (10000)] [--rate N (500)]\n");
  process.exit(0);
}
const ROUTERS = Number(values.routers);
const RATE = Number(values.rate);
const log = (line: string) => process.stderr.write(`${line}\n`);

/** CPU seconds (user + system) of every live process in process group `pgid` (Linux /proc). */
function groupCpuSeconds(pgid: number): number {
  let ticks = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[2]) !== pgid) continue;
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // The process exited while we read.
    }
  }
  return ticks / 100;
}

const railsToken = `bench-rails-${randomBytes(12).toString("hex")}`;
const deviceSecret = `bench-device-${randomBytes(12).toString("hex")}`;
const host = "127.0.0.1";
const system = await startSystem({
  host,
  mqttPort: await freePort(host),
  httpPort: await freePort(host),
  edgePort: await freePort(host),
  env: {
    DEVICE_SECRET: deviceSecret,
    BROKER_API_TOKEN: `bench-broker-${randomBytes(12).toString("hex")}`,
    RAILS_API_TOKEN: railsToken,
    EDGE_EVENTS_SECRET: randomBytes(16).toString("hex"),
    CLIENT_JWT_SECRET: randomBytes(16).toString("hex"),
  },
  simulate: 0,
  output: null,
  readyTimeoutMs: 90_000,
});
const devices: Device[] = [];
try {
  const runs: number[] = [];
  const connectStart = Date.now();
  for (let i = 0; i < ROUTERS; i += 100) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(100, ROUTERS - i) }, async (_, j) => {
        const deviceId = `bench-job-${i + j}`;
        const device = connectDevice({
          deviceId,
          password: await devicePassword(deviceSecret, deviceId),
          url: system.urls.mqtt,
          keepalive: 300,
        });
        device.on("error", () => {});
        device.command("reboot", () => {
          runs.push(Date.now());
          return { rebooted: true };
        });
        return device;
      }),
    );
    await Promise.all(batch.map((device) => device.whenOnline()));
    devices.push(...batch);
  }
  log(
    `${ROUTERS} routers online in ${((Date.now() - connectStart) / 1000).toFixed(1)} s; letting presence settle`,
  );
  await new Promise((resolve) => setTimeout(resolve, 10_000));

  const pgid = (name: string) => system.processes.find((p) => p.name === name)?.child.pid ?? 0;
  const cpuBefore = { broker: groupCpuSeconds(pgid("broker")), edge: groupCpuSeconds(pgid("edge")) };
  const rails = (path: string, init: RequestInit = {}, extra: Record<string, string> = {}) =>
    fetch(`${system.urls.edge}${path}`, {
      ...init,
      headers: { authorization: bearer(railsToken), "content-type": "application/json", ...extra },
    });
  const started = Date.now();
  // As Rails should: an Idempotency-Key, and the same POST again on a 503. Under the local
  // edge the 503 is often wrangler's proxy ("Your worker restarted mid-request"): the local
  // workerd reset the connection after reading the request, while ~1,000 presence events
  // were still being delivered (docs/EDGE.md, "Why the local edge falls behind").
  const body = JSON.stringify({
    command: { name: "reboot", timeoutMs: 10_000 },
    targets: devices.map((d) => d.id),
    ratePerSecond: RATE,
  });
  const idempotencyKey = `bench-${randomBytes(8).toString("hex")}`;
  let created = await rails("/v1/jobs", { method: "POST", body }, { "idempotency-key": idempotencyKey });
  for (let attempt = 2; created.status === 503 && attempt <= 5; attempt++) {
    log(`POST /v1/jobs → 503 (${(await created.text()).slice(0, 60)}…); again with the same Idempotency-Key`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    created = await rails("/v1/jobs", { method: "POST", body }, { "idempotency-key": idempotencyKey });
  }
  if (created.status !== 201 && created.status !== 200) {
    throw new Error(`POST /v1/jobs → ${created.status}: ${(await created.text()).slice(0, 200)}`);
  }
  const job = (await created.json()) as { id: string };
  log(`POST /v1/jobs → ${created.status} in ${Date.now() - started} ms`);
  let view: { status: string; counts: Record<string, number>; endedAt: number | null; startedAt: number };
  let lastLog = Date.now();
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const res = await rails(`/v1/jobs/${job.id}`).catch(() => null);
    if (res?.status !== 200) {
      log(`GET /v1/jobs/${job.id} → ${res?.status ?? "unreachable"}`);
      continue;
    }
    view = (await res.json()) as typeof view;
    if (Date.now() - lastLog > 5_000) {
      lastLog = Date.now();
      log(`${view.status} ${JSON.stringify(view.counts)} (handlers ran ${runs.length})`);
    }
    if (view.status !== "running") break;
  }
  const cpuAfter = { broker: groupCpuSeconds(pgid("broker")), edge: groupCpuSeconds(pgid("edge")) };
  const wall = ((view.endedAt ?? Date.now()) - view.startedAt) / 1000;
  const firstRun = Math.min(...runs);
  const lastRun = Math.max(...runs);
  const report = {
    routers: ROUTERS,
    rate: RATE,
    status: view.status,
    counts: view.counts,
    wallSeconds: Number(wall.toFixed(1)),
    rateKept: Math.round(ROUTERS / wall),
    routerSideSpanSeconds: Number(((lastRun - firstRun) / 1000).toFixed(1)),
    routerSideMaxPerSecond: maxPerWindow(runs),
    handlerRuns: runs.length,
    brokerCpuSeconds: Number((cpuAfter.broker - cpuBefore.broker).toFixed(1)),
    edgeCpuSeconds: Number((cpuAfter.edge - cpuBefore.edge).toFixed(1)),
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
} finally {
  await Promise.all(devices.map((d) => d.close()));
  await system.stop();
}
