/**
 * `npx tsx bench/edge-cost.ts [--requests N] [--concurrency N]`: what one request costs
 * on the local edge (issue 17 item 3), in CPU of each process, with wrangler's
 * inspector on (as `wrangler dev` runs it) and off. Tether's broker runs
 * in its own process with 10 answering routers; the edge is started with wrangler's
 * `unstable_startWorker` from wrangler.toml. Prints one line per route and setting:
 * requests/s, p50, and µs of CPU per request of this process (wrangler's controller,
 * the client and the routers) and of each workerd. Not a test; nothing is written.
 */
import { Agent, request } from "node:http";
import { parseArgs } from "node:util";
import { unstable_startWorker } from "wrangler";
import { BENCH_API_TOKEN } from "./lib/ipc.js";
import { startNodePeer } from "./lib/peers/peers.js";
import { answeringDevice } from "./lib/peers/round-trip.js";
import { cpuTicks, workerdPids } from "./lib/proc.js";

const { values } = parseArgs({
  options: { requests: { type: "string", default: "600" }, concurrency: { type: "string", default: "8" } },
});
const REQUESTS = Number(values.requests);
const CONCURRENCY = Number(values.concurrency);
const RAILS_TOKEN = "rails-token-of-the-edge-cost-bench-0123";

async function measure(inspector: boolean): Promise<void> {
  const broker = await startNodePeer("tether", undefined, { maxEventLoopLagMs: 0 });
  const plain = (value: string) => ({ type: "plain_text" as const, value });
  const worker = await unstable_startWorker({
    config: "wrangler.toml",
    bindings: {
      TETHER_ENV: plain("development"),
      RAILS_API_TOKEN: plain(RAILS_TOKEN),
      CLIENT_JWT_SECRET: plain("client-jwt-secret-0123456789"),
      BROKER_API_TOKEN: plain(BENCH_API_TOKEN),
      EDGE_EVENTS_SECRET: plain("edge-events-secret-0123456789"),
      BROKER_URL: plain(`http://127.0.0.1:${broker.httpPort}`),
    },
    dev: {
      ...(inspector ? {} : { inspector: false as const }),
      server: { hostname: "127.0.0.1", port: 0 },
      persist: false,
      logLevel: "warn",
    },
  });
  // Bound: CONCURRENCY keep-alive connections.
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const routers = await Promise.all(
    Array.from({ length: 10 }, (_, i) => answeringDevice(`mqtt://127.0.0.1:${broker.mqttPort}`, `cost-${i}`)),
  );
  try {
    await worker.ready;
    const base = (await worker.url).toString().replace(/\/$/, "");
    const pids = [process.pid, ...workerdPids()];
    const run = async (method: "GET" | "POST", path: string, body: string | null) => {
      let next = 0;
      const latencies: number[] = [];
      const one = () =>
        new Promise<void>((resolve) => {
          const headers: Record<string, string> = { authorization: `Bearer ${RAILS_TOKEN}` };
          if (body)
            Object.assign(headers, {
              "content-type": "application/json",
              "content-length": String(body.length),
            });
          const req = request(`${base}${path}`, { method, agent, headers }, (response) => {
            response.resume();
            response.on("end", () => resolve());
          });
          req.on("error", () => resolve());
          req.end(body ?? undefined);
        });
      const loop = async () => {
        while (next++ < REQUESTS) {
          const started = performance.now();
          await one();
          latencies.push(performance.now() - started);
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, loop)); // warm-up
      next = 0;
      latencies.length = 0;
      const before = pids.map(cpuTicks);
      const started = performance.now();
      await Promise.all(Array.from({ length: CONCURRENCY }, loop));
      const seconds = (performance.now() - started) / 1000;
      const cost = pids.map((pid, i) => ((cpuTicks(pid) - (before[i] ?? 0)) * 10_000) / REQUESTS);
      latencies.sort((a, b) => a - b);
      console.log(
        `inspector ${inspector ? "on " : "off"} ${method} ${path}: ${Math.round(REQUESTS / seconds)}/s, p50 ${latencies[latencies.length >> 1]?.toFixed(1)} ms; CPU per request: this process ${Math.round(cost[0] ?? 0)} µs, ${cost
          .slice(1)
          .map((c) => `workerd ${Math.round(c)} µs`)
          .join(", ")}`,
      );
    };
    await run("GET", "/healthz", null);
    await run("POST", "/v1/devices/cost-1/commands", JSON.stringify({ name: "ping" }));
  } finally {
    agent.destroy();
    await Promise.all(routers.map((r) => r.endAsync(true)));
    await worker.dispose();
    await broker.close();
  }
}

await measure(true);
await measure(false);
