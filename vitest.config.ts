import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

// CI asks for a JSON summary too, so .ci/run can print one plain "N passed, N failed" line.
const summaryFile = process.env.TETHER_TEST_SUMMARY;

export default defineConfig({
  test: {
    reporters: summaryFile ? ["default", ["json", { outputFile: summaryFile }]] : ["default"],
    projects: [
      {
        test: {
          name: "node",
          include: ["test/**/*.test.ts"],
          exclude: ["test/edge/**"],
          environment: "node",
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
        test: { name: "edge", include: ["test/edge/**/*.test.ts"] },
      },
    ],
  },
});
