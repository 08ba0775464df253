/**
 * Issue 14, the reconnect storm: operators run the broker as plain JavaScript built by
 * scripts/build-broker.mjs (dist/broker/cli.js), not through tsx, so a restarted broker
 * listens again at once. The build runs again whenever a source is newer than the output.
 * The build here is of a copy of the checkout (broker/, protocol/, the script), so it never
 * races the dist/broker other tests start.
 */
import { execFile, spawn } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import mqtt from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { devicePassword } from "../../protocol/src/index.js";

const ROOT = new URL("../../", import.meta.url).pathname;
const run = promisify(execFile);
let copy = "";

beforeAll(() => {
  copy = mkdtempSync(join(tmpdir(), "tether-build-"));
  for (const part of ["broker/src", "protocol/src", "scripts/build-broker.mjs", "package.json"])
    cpSync(join(ROOT, part), join(copy, part), { recursive: true });
  symlinkSync(join(ROOT, "node_modules"), join(copy, "node_modules"));
});
afterAll(() => rmSync(copy, { recursive: true, force: true }));

/** `node scripts/build-broker.mjs --if-stale` in the copy: what it said on stderr. */
async function buildIfStale(): Promise<string> {
  const { stderr } = await run(process.execPath, ["scripts/build-broker.mjs", "--if-stale"], { cwd: copy });
  return stderr;
}

/** An mtime in the future, as an edit after the build leaves it. */
function touchLater(path: string): void {
  const later = new Date(Date.now() + 60_000);
  utimesSync(path, later, later);
}

describe("the built broker (scripts/build-broker.mjs → dist/broker/cli.js)", () => {
  it("builds from a clean checkout, then does nothing while the output is current", async () => {
    expect(await buildIfStale()).toMatch(
      /^tether: built dist\/broker \(dist\/broker\/cli\.js does not exist\)/,
    );
    const meta: unknown = JSON.parse(readFileSync(join(copy, "dist/broker/meta.json"), "utf8"));
    expect(Object.keys((meta as { inputs: Record<string, unknown> }).inputs)).toContain("broker/src/cli.ts");
    expect(await buildIfStale()).toBe("");
  });

  it("builds again when a source it bundled is newer, and the new output has the change", async () => {
    const cli = join(copy, "broker/src/cli.ts");
    writeFileSync(cli, readFileSync(cli, "utf8").replace('"tether-broker"', '"tether-broker-edited"'));
    touchLater(cli);
    expect(await buildIfStale()).toMatch(/\(broker\/src\/cli\.ts changed\)/);
    const refused = run(process.execPath, ["dist/broker/cli.js", "--no-such-flag"], { cwd: copy });
    await expect(refused).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^tether-broker-edited: /),
    });

    touchLater(join(copy, "protocol/src/index.ts"));
    expect(await buildIfStale()).toMatch(/\(protocol\/src\/index\.ts changed\)/);
    rmSync(join(copy, "dist/broker/meta.json"));
    expect(await buildIfStale()).toMatch(/meta\.json is missing/);
  });

  it("starts on plain node (no tsx), listens, answers /healthz and accepts a router", async () => {
    const secret = "build-test-device-secret-0123456789";
    const child = spawn(process.execPath, ["--max-semi-space-size=8", join(copy, "dist/broker/cli.js")], {
      env: {
        PATH: process.env.PATH ?? "",
        DEVICE_SECRET: secret,
        BROKER_API_TOKEN: "build-test-api-token-0123456789",
        HOST: "127.0.0.1",
        MQTT_PORT: "0",
        HTTP_PORT: "0",
        LOG_LEVEL: "warn",
        MEMORY_LOG_INTERVAL_SECONDS: "0",
        STATE_DIR: join(copy, "state"),
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exited = new Promise((resolve) => child.once("exit", resolve));
    try {
      const urls = await new Promise<RegExpExecArray>((resolve, reject) => {
        let out = "";
        const timer = setTimeout(() => reject(new Error(`not listening within 15 s: ${out}`)), 15_000);
        child.stdout.on("data", (chunk: Buffer) => {
          out += chunk.toString();
          const match = /MQTT on (mqtt:\/\/\S+), HTTP on (http:\/\/\S+)/.exec(out);
          if (match) {
            clearTimeout(timer);
            resolve(match);
          }
        });
        child.stderr.on("data", (chunk: Buffer) => {
          out += chunk.toString();
        });
      });
      const health = await fetch(`${urls[2]}/healthz`);
      expect(health.status).toBe(200);
      const router = await mqtt.connectAsync(urls[1] as string, {
        clientId: "router-built",
        username: "router-built",
        password: await devicePassword(secret, "router-built"),
        reconnectPeriod: 0,
      });
      expect(router.connected).toBe(true);
      await router.endAsync();
    } finally {
      child.kill("SIGTERM");
      await exited;
    }
  });

  it("is what npm run broker and the README's systemd unit start", () => {
    const scripts = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).scripts;
    expect(scripts["build:broker"]).toBe("node scripts/build-broker.mjs");
    expect(scripts.broker).toMatch(
      /^node scripts\/build-broker\.mjs --if-stale && .* dist\/broker\/cli\.js$/,
    );
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    expect(/^ExecStart=(.*)$/m.exec(readme)?.[1]).toMatch(/ dist\/broker\/cli\.js$/);
    expect(readme).toContain("npm ci --omit=dev && npm run build:broker");
  });
});
