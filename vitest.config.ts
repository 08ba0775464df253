import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";
import { BaseSequencer, type TestSpecification } from "vitest/node";

// CI asks for a JSON summary too, so .ci/run can print one plain "N passed, N failed" line.
const summaryFile = process.env.TETHER_TEST_SUMMARY;

/**
 * The files that take longest, longest first (vitest's per-file durations, issue 13).
 * They start first so the short files fill the other workers around them; vitest's own
 * order (by the last run's durations) does not exist yet in a fresh clone, where it
 * falls back to file size and started the 30-second churn test last.
 */
const LONGEST_FIRST = [
  "test/leak/churn.test.ts",
  "test/leak/churn-catches-leak.test.ts",
  "test/e2e/start.test.ts",
  "test/e2e/system.test.ts",
  "test/broker/auth-forget.test.ts",
  "test/broker/node-liveness.test.ts",
  "test/broker/diagnostics-wiring.test.ts",
  "test/setup/services.test.ts",
  "test/broker/liveness.test.ts",
];

/** Files that measure or snapshot their own process's heap: each in a fresh process. */
const HEAP_FILES = ["test/leak/**/*.test.ts", "test/broker/diagnostics-wiring.test.ts"];

class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (spec: TestSpecification) => {
      const index = LONGEST_FIRST.findIndex((path) => spec.moduleId.endsWith(path));
      return index === -1 ? LONGEST_FIRST.length : index;
    };
    return sorted
      .map((spec, order) => ({ spec, order }))
      .sort((a, b) => rank(a.spec) - rank(b.spec) || a.order - b.order)
      .map(({ spec }) => spec);
  }
}

export default defineConfig({
  test: {
    reporters: summaryFile ? ["default", ["json", { outputFile: summaryFile }]] : ["default"],
    // Most files wait on sockets, timers and child processes rather than compute, so three
    // files at a time keep 2 cores busy (vitest's default on 2 cores is one at a time).
    maxWorkers: 3,
    sequence: { sequencer: LongestFirst },
    projects: [
      {
        test: {
          name: "node",
          include: ["test/**/*.test.ts"],
          exclude: ["test/edge/**", "test/e2e/**", ...HEAP_FILES],
          environment: "node",
          // Private redis-server and mosquitto for the run (test/setup/services.ts).
          globalSetup: ["test/setup/services.ts"],
          // One module graph per worker, not per file: each file re-importing Aedes, Hono,
          // ioredis, mqtt.js and pino cost ~1 s of CPU, a third of the suite's (issue 13).
          // Every file closes what it opens (afterEach), so none sees another's state.
          isolate: false,
        },
      },
      {
        test: {
          name: "heap",
          include: HEAP_FILES,
          environment: "node",
          globalSetup: ["test/setup/services.ts"],
          // A process of their own: no other file's modules or garbage in what they measure.
          isolate: true,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          environment: "node",
          // The same private services, and the run's one shared system (E2ESystem.shared()).
          globalSetup: ["test/setup/services.ts", "test/setup/e2e-system.ts"],
          isolate: true,
        },
      },
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            // Test-only secrets and a small socket bound (docs/EDGE.md, "Tests").
            miniflare: {
              bindings: {
                RAILS_API_TOKEN: "test-rails-token",
                CLIENT_JWT_SECRET: "test-client-jwt-secret",
                BROKER_API_TOKEN: "test-broker-api-token",
                EDGE_EVENTS_SECRET: "test-edge-events-secret",
                BROKER_URL: "http://broker.test",
                WS_MAX_SOCKETS_PER_DEVICE: "4",
              },
            },
          }),
        ],
        test: { name: "edge", include: ["test/edge/**/*.test.ts"] },
      },
    ],
  },
});
