/**
 * Issue 18, part 2: the broker's malloc. jemalloc through LD_PRELOAD when Debian's
 * libjemalloc2 is installed (TETHER_ALLOCATOR=auto|jemalloc), else glibc with
 * MALLOC_ARENA_MAX=2 and one clear line; never a failed start for a missing library.
 */
import { execFile, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { allocatorLine, jemallocLoaded, mallocArenaAdvice } from "../../broker/src/diagnostics/malloc.js";
import {
  allocatorSetup,
  deployedAllocator,
  findJemalloc,
  parseAllocatorChoice,
} from "../../scripts/lib/allocator.js";
import { brokerNodeArgs } from "../../scripts/lib/broker-build.js";

const ROOT = new URL("../../", import.meta.url).pathname;
const WRAPPER = join(ROOT, "scripts/with-allocator.sh");
const installed = findJemalloc();
const temps: string[] = [];
const temp = () => {
  const dir = mkdtempSync(join(tmpdir(), "tether-alloc-"));
  temps.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

/** What a process started through the wrapper sees: jemalloc mapped, its MALLOC_ARENA_MAX, stderr. */
async function throughWrapper(env: Record<string, string>) {
  const probe =
    "const maps=require('fs').readFileSync('/proc/self/maps','utf8');" +
    "console.log(JSON.stringify({jemalloc:/libjemalloc/.test(maps),arenas:process.env.MALLOC_ARENA_MAX??null}))";
  const { stdout, stderr } = await promisify(execFile)("sh", [WRAPPER, process.execPath, "-e", probe], {
    env: { PATH: process.env.PATH ?? "", ...env },
  });
  return { ...(JSON.parse(stdout) as { jemalloc: boolean; arenas: string | null }), stderr };
}

describe("choosing the allocator (scripts/lib/allocator.ts)", () => {
  it("preloads jemalloc where it is, keeps another LD_PRELOAD, and falls back to glibc with one line", () => {
    expect(allocatorSetup("auto", { jemallocPath: "/usr/lib/x/libjemalloc.so.2" })).toMatchObject({
      allocator: "jemalloc",
      env: { LD_PRELOAD: "/usr/lib/x/libjemalloc.so.2" },
    });
    expect(allocatorSetup("jemalloc", { jemallocPath: "/j.so", preload: "/other.so" }).env).toEqual({
      LD_PRELOAD: "/j.so:/other.so",
    });
    const absent = allocatorSetup("auto", { jemallocPath: null });
    expect(absent).toMatchObject({ allocator: "glibc", env: { MALLOC_ARENA_MAX: "2" } });
    expect(absent.message).toMatch(
      /^allocator: glibc malloc \(MALLOC_ARENA_MAX=2\); jemalloc not installed \(apt-get install libjemalloc2/,
    );
    expect(allocatorSetup("glibc", { jemallocPath: "/j.so", arenaMax: 0 }).env).toEqual({});
  });

  it("takes the deployed allocator from the environment, as npm start, the soak and the benches do", () => {
    expect(deployedAllocator({ TETHER_ALLOCATOR: "glibc" }).env).toEqual({ MALLOC_ARENA_MAX: "2" });
    expect(deployedAllocator({ TETHER_ALLOCATOR: "glibc", MALLOC_ARENA_MAX: "4" }).env).toEqual({
      MALLOC_ARENA_MAX: "4",
    });
    expect(deployedAllocator({ TETHER_ALLOCATOR: "glibc", MALLOC_ARENA_MAX: "0" }).env).toEqual({});
    expect(() => deployedAllocator({ TETHER_ALLOCATOR: "tcmalloc" })).toThrow(/glibc, jemalloc or auto/);
  });

  it("refuses an unknown TETHER_ALLOCATOR with the values it takes", () => {
    expect(parseAllocatorChoice(undefined)).toBe("auto");
    expect(parseAllocatorChoice(" JEMALLOC ")).toBe("jemalloc");
    expect(() => parseAllocatorChoice("tcmalloc")).toThrow(/glibc, jemalloc or auto/);
  });

  it("finds libjemalloc.so.2 under the multiarch directory, and nothing in an empty one", () => {
    const root = temp();
    expect(findJemalloc(root)).toBeNull();
    mkdirSync(join(root, "aarch64-linux-gnu"));
    writeFileSync(join(root, "aarch64-linux-gnu", "libjemalloc.so.2"), "");
    expect(findJemalloc(root)).toBe(join(root, "aarch64-linux-gnu", "libjemalloc.so.2"));
  });

  it("names the allocator at start-up, and gives no arena advice on jemalloc", () => {
    expect(allocatorLine({}, "2.36", true)).toBe("allocator: jemalloc (LD_PRELOAD)");
    expect(allocatorLine({ MALLOC_ARENA_MAX: "2" }, "2.36", false)).toBe(
      "allocator: glibc 2.36 malloc (MALLOC_ARENA_MAX=2)",
    );
    expect(mallocArenaAdvice({}, "2.36", true)).toBeNull();
    expect(
      jemallocLoaded(() => "7f00-7f01 r-xp 0 08:01 1 /usr/lib/x86_64-linux-gnu/libjemalloc.so.2\n"),
    ).toBe(true);
    expect(jemallocLoaded(() => "7f00-7f01 r-xp 0 08:01 1 /usr/lib/x86_64-linux-gnu/libc.so.6\n")).toBe(
      false,
    );
  });
});

describe("scripts/with-allocator.sh (npm run broker, the systemd unit)", () => {
  it("without libjemalloc2 runs on glibc with MALLOC_ARENA_MAX=2 and says so in one line", async () => {
    const seen = await throughWrapper({ TETHER_LIB_DIR: temp() });
    expect(seen).toMatchObject({ jemalloc: false, arenas: "2" });
    expect(seen.stderr.trim().split("\n")).toEqual([
      "tether: jemalloc is not installed (apt-get install libjemalloc2 to use it); the broker runs on glibc malloc (MALLOC_ARENA_MAX=2)",
    ]);
  });

  it("TETHER_ALLOCATOR=glibc runs on glibc silently, and a bad value stops with exit 2", async () => {
    expect(await throughWrapper({ TETHER_ALLOCATOR: "glibc" })).toEqual({
      jemalloc: false,
      arenas: "2",
      stderr: "",
    });
    await expect(throughWrapper({ TETHER_ALLOCATOR: "tcmalloc" })).rejects.toMatchObject({ code: 2 });
  });

  it.skipIf(installed === null)(
    "with libjemalloc2 installed, the process runs on jemalloc (mapped)",
    async () => {
      expect(await throughWrapper({})).toMatchObject({ jemalloc: true, arenas: null, stderr: "" });
    },
  );

  it.skipIf(installed === null)(
    "the real broker started through it names jemalloc as its allocator",
    async () => {
      const child = spawn(
        "sh",
        // The built broker (dist/broker/cli.js, rebuilt first when stale), as the systemd unit runs it.
        [WRAPPER, process.execPath, ...brokerNodeArgs()],
        {
          cwd: ROOT,
          env: {
            ...process.env,
            DEVICE_SECRET: "s".repeat(32),
            BROKER_API_TOKEN: "t".repeat(32),
            HOST: "127.0.0.1",
            MQTT_PORT: "0",
            HTTP_PORT: "0",
            STATE_DIR: temp(),
            LOG_LEVEL: "warn",
          },
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      let out = "";
      child.stdout.on("data", (chunk: Buffer) => {
        out += chunk.toString();
      });
      const exited = new Promise((resolve) => child.once("exit", resolve));
      try {
        for (let i = 0; i < 300 && !out.includes("allocator:"); i++)
          await new Promise((r) => setTimeout(r, 50));
        expect(out).toMatch(/^tether-broker: allocator: jemalloc \(LD_PRELOAD\)$/m);
      } finally {
        child.kill("SIGTERM");
        await exited;
      }
    },
    30_000,
  );
});
