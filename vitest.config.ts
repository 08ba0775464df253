import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";
import { LongestFirst } from "./test/setup/longest-first.js";

// CI asks for a JSON summary too, so .ci/run can print one plain "N passed, N failed" line.
const summaryFile = process.env.TETHER_TEST_SUMMARY;

/** Private redis-server and mosquitto for the run (test/setup/services.ts). */
const SERVICES = "test/setup/services.ts";
/** The churn leak tests: a core each for ~10-13 s (stretched under load; their limits allow it). */
const CHURN = ["test/leak/churn*.test.ts"];
/** Files that measure or snapshot their own process's heap: each in a fresh process. */
const HEAP = [
  "test/leak/**/*.test.ts",
  "test/broker/diagnostics-wiring.test.ts",
  "test/security/broker-fuzz.test.ts",
  "test/security/broker-qos2.test.ts",
];
/**
 * Files that assert wall-clock deadlines of a few hundred milliseconds (keepalive, TTLs,
 * backoff spread, round-trip medians): measured with nothing of ours beside them at the same
 * priority (the timing lane, scripts/test.sh). A new file with such assertions belongs here.
 */
const TIMING = [
  "test/broker/liveness.test.ts",
  "test/broker/node-liveness.test.ts",
  "test/broker/limits.test.ts",
  "test/sdk/backoff-spread.test.ts",
  "test/sdk/tether-broker.test.ts",
  "test/console/tether-client-reconnect.test.ts",
  // A legitimate CONNECT within 2 s under a flood; shedding while the event loop is starved.
  "test/security/broker-admission.test.ts",
  "test/broker/overload.test.ts",
  // Fleet jobs (issue 16): no router-side second above the job's rate, counted at its 500
  // routers (a stall of its edge, broker or routers bunches deliveries into one second). It
  // ran alone after both lanes (~35 s, a third of the suite, for ~15 s of CPU); here its
  // processes keep their priority and the rest takes what they leave.
  "test/e2e/jobs.test.ts",
  // The run's shared system's files (E2ESystem.shared()): the sockets hear of a vanished
  // router within 1.5 × keepalive + 500 ms, through broker, edge and test process. At nice 19
  // beside jobs.test that took 4.3 s; edge-refusals only shares the system with it.
  "test/e2e/system.test.ts",
  "test/e2e/edge-refusals.test.ts",
  // npm start refuses wrong options and a taken port "at once" (< 10 s, the launcher's own
  // start-up): at nice 19 on a slow machine that took 10.4 s (2026-11-30).
  "test/e2e/start-refusals.test.ts",
  // Wall-clock bounds a few times their operation (a revoked device disconnected within 5 s, ~2 s;
  // a forwarder's flush/close within 1 s, 100-150 ms; a readiness probe given up within 2 s,
  // 200 ms): the nice-19 lane ran 10-24× slower than alone on that machine (2026-11-30).
  "test/security/broker-revocation.test.ts",
  "test/broker/forwarder.test.ts",
  "test/scripts/processes.test.ts",
  // Its raw MQTT client waits 3 s for each SUBACK (~0.3 s a test): one waited longer in a
  // clean-clone run at nice 19 (cause not found; 12 runs alone took 0.42-0.47 s).
  "test/security/broker-subscriptions.test.ts",
];

/**
 * Files whose assertions are a few milliseconds wide (the p99 of command round trips under a
 * flood against the quiet figure): no CPU-bound work of ours at any priority beside them, as a
 * waking task still waits for the running one's time slice (a few ms). They run last, alone.
 */
const QUIET = ["test/security/broker-flood.test.ts"];

/**
 * Time limits of the background lane's tests (nice 19; scripts/test.sh). They take the CPU the
 * timing lane leaves, and a test waiting on events can be held up for seconds, e.g. while the
 * timing lane's 500 fleet-job routers connect: queued-expiry's Redis pair timed out at vitest's
 * default 5 s so (a clean clone's second run in an empty network namespace). These limits are
 * for hangs, not claims: the assertions with deadlines run in the timing lane.
 */
const BACKGROUND_LIMITS = { testTimeout: 20_000, hookTimeout: 30_000 };

/**
 * Two lanes side by side under `npm test` (scripts/test.sh, issue 13):
 * - the timing lane, `vitest run --project timing`, at normal priority: the TIMING files one
 *   at a time (mostly waiting on timers), the run's shared system's files, fleet jobs last;
 * - the rest, `--project node,heap,e2e,edge,churn`, at nice 19, so it takes only the CPU the
 *   timing lane leaves: first every other file, three at a time (most wait on sockets, timers
 *   and child processes rather than compute; vitest's default on 2 cores is one at a time),
 *   the heavy ones (wrangler, Chromium, heap snapshots) first; then the two churn tests side
 *   by side, a core each.
 * Then the QUIET files, `--project quiet`, alone (broker-flood, ~3 s): their vitest starts
 * with the lanes and waits for them (test/setup/quiet-gate.ts).
 * `npm test -- <files>` is one vitest over all projects: the groups below one after the other.
 */
export default defineConfig({
  test: {
    reporters: summaryFile ? ["default", ["json", { outputFile: summaryFile }]] : ["default"],
    maxWorkers: 3,
    sequence: { sequencer: LongestFirst },
    projects: [
      {
        test: {
          name: "node",
          ...BACKGROUND_LIMITS,
          include: ["test/**/*.test.ts"],
          exclude: ["test/edge/**", "test/e2e/**", ...HEAP, ...TIMING, ...QUIET],
          environment: "node",
          globalSetup: [SERVICES],
          // One module graph per worker, not per file: each file re-importing Aedes, Hono,
          // ioredis, mqtt.js and pino cost ~1 s of CPU, a third of the suite's.
          // Every file closes what it opens (afterEach), so none sees another's state.
          isolate: false,
        },
      },
      {
        test: {
          name: "heap",
          ...BACKGROUND_LIMITS,
          include: HEAP,
          exclude: CHURN,
          environment: "node",
          globalSetup: [SERVICES],
          // A process of their own: no other file's modules or garbage in what they measure.
          isolate: true,
        },
      },
      {
        test: {
          name: "e2e",
          ...BACKGROUND_LIMITS,
          include: ["test/e2e/**/*.test.ts"],
          exclude: [...TIMING, ...QUIET],
          environment: "node",
          // The same private services. The shared system's setup starts nothing unless a file
          // asks (its files run in the timing lane), but checks that Chromium is installed.
          globalSetup: [SERVICES, "test/setup/e2e-system.ts"],
          isolate: true,
        },
      },
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            // Test-only secrets (short, so TETHER_ENV=development) and a small socket bound
            // (docs/EDGE.md, "Tests"). Tests of the production checks pass their own env.
            miniflare: {
              bindings: {
                TETHER_ENV: "development",
                RAILS_API_TOKEN: "test-rails-token",
                CLIENT_JWT_SECRET: "test-client-jwt-secret",
                BROKER_API_TOKEN: "test-broker-api-token",
                EDGE_EVENTS_SECRET: "test-edge-events-secret",
                BROKER_URL: "http://broker.test",
                WS_MAX_SOCKETS_PER_DEVICE: "6",
              },
            },
          }),
        ],
        test: {
          name: "edge",
          include: ["test/edge/**/*.test.ts"],
          // One workerd module graph for all the files (7 s less CPU): they use fresh device
          // ids and restore their fetch mocks after each test, so none sees another's state.
          isolate: false,
        },
      },
      {
        test: {
          name: "timing",
          include: TIMING,
          exclude: QUIET,
          environment: "node",
          // The run's one shared system lives here, with the files that use it.
          globalSetup: [SERVICES, "test/setup/e2e-system.ts"],
          isolate: false,
          // One at a time: a burst of one (50 routers reconnecting) is another's latency.
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
        },
      },
      {
        test: {
          name: "quiet",
          include: QUIET,
          environment: "node",
          // Under `npm test`, started with the lanes and held until both end (scripts/test.sh).
          globalSetup: [SERVICES, "test/setup/quiet-gate.ts"],
          isolate: false,
          maxWorkers: 1,
          sequence: { groupOrder: 2 },
        },
      },
      {
        test: {
          name: "churn",
          include: CHURN,
          environment: "node",
          globalSetup: [SERVICES],
          isolate: true,
          // With the others, but started last (test/setup/longest-first.ts, LAST): they fill
          // the cores the short files' timers leave idle at the end, instead of a group of
          // their own after everything.
        },
      },
    ],
  },
});
