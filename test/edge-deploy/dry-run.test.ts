import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const wrangler = join(process.cwd(), "node_modules", ".bin", "wrangler");

describe("the edge bundle", () => {
  let outdir = "";
  beforeAll(async () => {
    outdir = await mkdtemp(join(tmpdir(), "tether-edge-dry-run-"));
  });
  afterAll(async () => {
    await rm(outdir, { recursive: true, force: true });
  });

  it("passes `wrangler deploy --dry-run` offline, with the DO binding and the console assets", async () => {
    const { stdout, stderr } = await run(wrangler, ["deploy", "--dry-run", "--outdir", outdir], {
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true" },
      timeout: 30_000,
    });
    const output = `${stdout}\n${stderr}`;
    expect(output).toContain("--dry-run: exiting now");
    expect(output).toMatch(/env\.DEVICE_CHANNEL \(DeviceChannel\)\s+Durable Object/);
    expect(output).toMatch(/env\.ASSETS\s+Assets/);
    const bundle = await readFile(join(outdir, "index.js"), "utf8");
    // Asserted on a match, not the bundle itself, so a failure does not print 900 KiB.
    expect(/export\s*\{[^}]*\bDeviceChannel\b/.test(bundle)).toBe(true);
  }, 30_000);
});
