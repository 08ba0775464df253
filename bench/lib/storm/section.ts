import { cpus } from "node:os";
import type { StormResult } from "./leg.js";

const mb = (b: number) => (b / 2 ** 20).toFixed(1);
const s = (ms: number | null) => (ms === null ? "not within 120 s" : `${(ms / 1000).toFixed(1)} s`);
const TARGET_MS = 15_000;
const TARGET_RSS = 1.5;

/** The "Reconnect storm" section of docs/BENCHMARKS.md. */
export function renderStorm(r: StormResult, command: string): string {
  const ratio = r.peakRss / r.steadyRss;
  const failures = Object.entries(r.counts.failures)
    .map(([k, v]) => `${k} ${v.toLocaleString("en-US")}`)
    .join(", ");
  return [
    `Command: \`${command}\``,
    "",
    `Machine: ${cpus().length} × ${cpus()[0]?.model.trim() ?? "unknown CPU"}, Node ${process.version}; load average ${r.load[0].toFixed(1)} at the start, ${r.load[1].toFixed(1)} at the end.`,
    `Tether's broker in its own process as deployed: the built \`dist/broker/cli.js\` (\`npm run build:broker\`), its Node flags,`,
    `${r.allocator} malloc (TETHER_ALLOCATOR), memory mode, default admission limits (${r.maxUnauthenticatedPerAddress} unauthenticated sockets per`,
    `address). ${r.routers.toLocaleString("en-US")} routers in the bench's process from ${r.sourceAddresses.toLocaleString("en-US")} source addresses (127.1.x.y, ${r.perSource} routers each, as`,
    "routers come from addresses of their own), each a raw socket that reconnects as the device SDK does: the SDK's",
    "`Backoff` (first delay random in [0, 1 s), doubling to 30 s, full jitter), reset after a stable connection, 10 s",
    "connect timeout; clean=false, keepalive 300 s, SUBSCRIBE to its commands topic at QoS 1. Once all are subscribed",
    "and 5 s have passed, the broker is SIGKILLed and started again on the same port, straight into the built file",
    r.downMs > 0
      ? `as systemd's \`Restart=always\` does, ${r.downMs} ms after the kill (\`--down-ms\`: as a \`RestartSec\`).`
      : "as systemd's `Restart=always` does, at once (`--down-ms` adds a delay, as a `RestartSec`).",
    "",
    "| | |",
    "|---|---:|",
    `| steady VmRSS, all subscribed, no forced GC (MB) | ${mb(r.steadyRss)} |`,
    `| SIGKILL → new broker listening | ${s(r.restartMs)} |`,
    `| **SIGKILL → every router connected and subscribed again** | **${s(r.allBackMs)}** |`,
    `| new broker listening → every router back | ${s(r.afterReadyMs)} |`,
    `| routers back (of ${r.routers.toLocaleString("en-US")}) | ${r.routersBack.toLocaleString("en-US")} |`,
    `| SIGKILL → SUBACK, p50 / p90 / p99 | ${r.backPercentilesMs.map((ms) => (ms / 1000).toFixed(1)).join(" / ")} s |`,
    `| routers back per 100 ms: most in one window / mean | ${r.peakPer100Ms} / ${r.meanPer100Ms.toFixed(0)} |`,
    `| **peak VmRSS of the new broker during the storm (MB)** | **${mb(r.peakRss)}** (${ratio.toFixed(2)}× steady) |`,
    `| its VmRSS 5 s after all were back (MB) | ${mb(r.afterRss)} |`,
    `| connect attempts during the storm | ${r.counts.attempts.toLocaleString("en-US")} |`,
    `| failed attempts by cause | ${failures || "none"} |`,
    "",
    `Targets: all back within ${TARGET_MS / 1000} s → ${r.allBackMs !== null && r.allBackMs <= TARGET_MS ? "met" : "**missed**"} (${s(r.allBackMs)});`,
    `peak RSS ≤ ${TARGET_RSS}× steady → ${ratio <= TARGET_RSS ? "met" : "**missed**"} (${ratio.toFixed(2)}×).`,
  ].join("\n");
}
