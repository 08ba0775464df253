/**
 * Issue 13: the Prometheus alert rules in docs/ops/ are valid, fire on the trouble they
 * name (their promtool unit tests) and use only metrics the broker really exports.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { cleanupAll } from "../broker/helpers.js";
import { findExecutable } from "../setup/prerequisites.js";
import { exportedMetrics } from "./exported-metrics.js";

afterEach(cleanupAll);

const run = promisify(execFile);
const OPS = fileURLToPath(new URL("../../docs/ops/", import.meta.url));
const RULES = readFileSync(`${OPS}alerts.yml`, "utf8");
/** Prometheus's own series; everything else must come from the broker. */
const PROMETHEUS_OWN = new Set(["up"]);

const promtool = findExecutable("promtool");

describe("docs/ops/alerts.yml", () => {
  it("names only metrics a running broker exports", async () => {
    const exported = await exportedMetrics();
    const used = new Set(RULES.match(/\b(?:tether|process|nodejs)_[a-z0-9_]+\b/g) ?? []);
    expect(used.size).toBeGreaterThan(5);
    expect([...used].filter((name) => !exported.has(name) && !PROMETHEUS_OWN.has(name))).toEqual([]);
  });

  it("passes promtool's check and its own unit tests (alerts.test.yml)", async (ctx) => {
    if (!promtool) {
      if (process.env.CI)
        throw new Error("promtool is missing under CI: .ci/run installs Debian's prometheus");
      ctx.skip("promtool is missing (apt-get install prometheus); this test always runs under CI");
    }
    const check = await run(promtool ?? "promtool", ["check", "rules", "alerts.yml"], { cwd: OPS });
    expect(check.stdout).toContain("SUCCESS: 9 rules found");
    const unit = await run(promtool ?? "promtool", ["test", "rules", "alerts.test.yml"], { cwd: OPS });
    expect(unit.stdout).toMatch(/SUCCESS/);
  });
});
