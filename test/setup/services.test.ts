/**
 * Issue 13: `npm test` brings its own Redis and Mosquitto, never touches the machine's,
 * leaves nothing behind (Ctrl-C and a killed runner included), and a missing program
 * stops the run with one line before any test.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { connectAsync } from "mqtt";
import { describe, expect, it } from "vitest";
import { commandLine, descendants } from "../e2e/launcher.js";
import { until } from "../e2e/until.js";
import { makeServicesDir, removeDir, STARTED_ENV } from "./local-services.js";
import { findExecutable, missingToolsLine, searchDirs, TOOLS } from "./prerequisites.js";
import { MOSQUITTO_URL, REDIS_URL } from "./service-urls.js";

const HOLDER = fileURLToPath(new URL("./fixtures/hold-services.ts", import.meta.url));
const SERVICES = fileURLToPath(new URL("./services.ts", import.meta.url));

/** The environment of a fresh run: no preset service URLs. */
function freshEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.TEST_REDIS_URL;
  delete env.TEST_MOSQUITTO_URL;
  return env;
}

function servicesDirsOf(pid: number): string[] {
  return readdirSync(tmpdir()).filter((entry) => entry.startsWith(`tether-test-services-${pid}-`));
}

/** Starts the services in a child process; resolves once they are up, with their pids. */
async function holdServices(): Promise<{ child: ChildProcess; pids: number[]; exited: Promise<number> }> {
  const child = spawn(process.execPath, ["--import", "tsx", HOLDER], {
    env: freshEnv(),
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<number>((resolve) =>
    child.once("exit", (code, signal) => resolve(code ?? (signal ? 128 : -1))),
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout?.once("data", () => resolve());
    void exited.then((code) => reject(new Error(`the services holder exited with ${code}`)));
  });
  const pids = descendants(child.pid ?? -1);
  return { child, pids, exited };
}

const gone = (pids: number[]) => pids.every((pid) => commandLine(pid) === null);

// Several tests start `node --import tsx` children: seconds each on a loaded 2-core machine.
describe("the test run's own Redis and Mosquitto", { timeout: 30_000 }, () => {
  it("are private servers in a temp directory and on ports of their own, not the machine's 6379 and 1883", async () => {
    const started = (process.env[STARTED_ENV] ?? "").split(",");
    const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0 });
    try {
      await redis.connect();
      expect(await redis.ping()).toBe("PONG");
      if (started.includes("redis-server")) {
        expect(new URL(REDIS_URL).port).not.toBe("6379");
        // Its working directory is this run's temp directory: not the machine's Redis.
        expect(await redis.config("GET", "dir")).toEqual([
          "dir",
          expect.stringContaining(join(tmpdir(), "tether-test-services-")),
        ]);
      }
    } finally {
      redis.disconnect();
    }
    if (started.includes("mosquitto")) expect(new URL(MOSQUITTO_URL).port).not.toBe("1883");
    const client = await connectAsync(MOSQUITTO_URL, { reconnectPeriod: 0, connectTimeout: 5_000 });
    expect(client.connected).toBe(true);
    await client.endAsync();
  });

  it("are stopped, with their temp directory, when the runner exits on Ctrl-C", async () => {
    const holder = await holdServices();
    const pid = holder.child.pid ?? -1;
    expect(holder.pids.map((p) => commandLine(p) ?? "").join("\n")).toMatch(
      /redis-server[\s\S]*mosquitto|mosquitto[\s\S]*redis-server/,
    );
    expect(servicesDirsOf(pid)).toHaveLength(1);

    holder.child.kill("SIGINT");
    expect(await holder.exited).toBe(130);
    await until("both services gone", () => gone(holder.pids), 5_000);
    expect(servicesDirsOf(pid)).toEqual([]);
  });

  it.runIf(process.platform === "linux")(
    "die with a runner killed outright, and the next run sweeps the directory it left",
    async () => {
      const holder = await holdServices();
      const pid = holder.child.pid ?? -1;
      expect(holder.pids.length).toBeGreaterThanOrEqual(2);

      holder.child.kill("SIGKILL");
      await holder.exited;
      await until("both services gone (parent-death signal)", () => gone(holder.pids), 5_000);
      expect(servicesDirsOf(pid)).toHaveLength(1);

      removeDir(makeServicesDir());
      expect(servicesDirsOf(pid)).toEqual([]);
    },
  );
});

describe("a machine without the programs npm test needs", { timeout: 30_000 }, () => {
  it("finds a program in the directories searched, and nothing where there is none", () => {
    const empty = mkdtempSync(join(tmpdir(), "tether-empty-path-"));
    try {
      expect(findExecutable("node", [empty])).toBeUndefined();
      expect(findExecutable("node", [empty, dirname(process.execPath)])).toBe(process.execPath);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it("is told in one line what is missing and the command that installs it, per platform", () => {
    const linux = missingToolsLine([TOOLS.redis, TOOLS.mosquitto], "linux");
    expect(linux).toBe(
      "npm test needs redis-server, mosquitto, not found on PATH or in /usr/sbin: " +
        "sudo apt-get install redis-server mosquitto chromium (Debian/Ubuntu), or brew install redis mosquitto (macOS)",
    );
    expect(missingToolsLine([TOOLS.mosquitto], "darwin")).toBe(
      "npm test needs mosquitto, not found on PATH or in /usr/sbin: brew install redis mosquitto (macOS)",
    );
  });

  it("stops before starting anything, with exit code 1 and that one line", async (ctx) => {
    // redis-server lives in /usr/bin, which this PATH does not list.
    if (findExecutable("redis-server", searchDirs({ PATH: "/nonexistent" }))) {
      ctx.skip("redis-server is installed in a directory searched besides PATH (Homebrew's)");
    }
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "--input-type=module",
        "-e",
        `await (await import(${JSON.stringify(SERVICES)})).default();`,
      ],
      { env: freshEnv({ PATH: "/nonexistent" }), stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(code).toBe(1);
    const lines = stderr.split("\n").filter((line) => line.trim() !== "");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^npm test needs redis-server.*apt-get install redis-server mosquitto chromium/);
    expect(servicesDirsOf(child.pid ?? -1)).toEqual([]);
  });
});
