/**
 * A promise rejected with no handler must not end the broker process (and every router's
 * connection with it): broker/src/process-guards.ts. The second test injects one into the real
 * broker, built and started as `npm run broker` starts it, through `node --import`.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { keepRunningOnUnhandledRejection, LOG_PER_MINUTE } from "../../broker/src/process-guards.js";
import { brokerNodeArgs } from "../../scripts/lib/broker-build.js";

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

describe("unhandled promise rejections", () => {
  it("are logged, at most LOG_PER_MINUTE a minute and then counted, and do not end the process", async () => {
    const lines: string[] = [];
    let now = 0;
    cleanups.push(
      keepRunningOnUnhandledRejection(
        (line) => lines.push(line),
        () => now,
      ),
    );
    for (let i = 0; i < LOG_PER_MINUTE + 5; i++) void Promise.reject(new Error(`cleanup ${i} failed`));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(lines).toHaveLength(LOG_PER_MINUTE);
    expect(lines[0]).toMatch(/^unhandled promise rejection \(kept running\): Error: cleanup 0 failed/);
    now = 61_000;
    void Promise.reject("late");
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(lines.slice(LOG_PER_MINUTE)).toEqual([
      "5 more unhandled promise rejections in the last minute (not logged)",
      "unhandled promise rejection (kept running): late",
    ]);
  });

  it("leave the real broker process up and serving (one injected after it started)", async () => {
    const state = mkdtempSync(join(tmpdir(), "tether-guards-"));
    cleanups.push(() => rmSync(state, { recursive: true, force: true }));
    // Rejects when the test sends SIGUSR2, once the broker says it listens (a fixed delay after
    // the start came before the broker had started on a loaded machine, and ended the process).
    const inject = `data:text/javascript,process.on("SIGUSR2", () => { Promise.reject(new Error("injected rejection")); })`;
    const [flags, entry] = [brokerNodeArgs().slice(0, -1), brokerNodeArgs().at(-1) ?? ""];
    const child = spawn(process.execPath, [...flags, "--import", inject, entry], {
      env: {
        PATH: process.env.PATH ?? "",
        DEVICE_SECRET: "guards-test-device-secret-0123456789",
        BROKER_API_TOKEN: "guards-test-api-token-0123456789",
        HOST: "127.0.0.1",
        MQTT_PORT: "0",
        HTTP_PORT: "0",
        LOG_LEVEL: "warn",
        MEMORY_LOG_INTERVAL_SECONDS: "0",
        STATE_DIR: state,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let exitCode: number | null | undefined;
    const exited = new Promise<void>((resolve) =>
      child.once("exit", (code) => {
        exitCode = code;
        resolve();
      }),
    );
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    /** Waits (15 s at most) until the output matches, or the process has ended. */
    const outputMatches = async (pattern: RegExp, what: string) => {
      const deadline = Date.now() + 15_000;
      while (!pattern.test(out) && exitCode === undefined) {
        if (Date.now() > deadline) throw new Error(`no ${what} within 15 s: ${out}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    try {
      await outputMatches(/HTTP on http:\/\/\S+/, "HTTP line");
      expect(exitCode, out).toBeUndefined();
      child.kill("SIGUSR2");
      await outputMatches(/kept running\): Error: injected rejection/, "rejection line");
      expect(exitCode, out).toBeUndefined();
      const http = /HTTP on (http:\/\/\S+)/.exec(out)?.[1];
      expect(http, out).toBeDefined();
      const health = await fetch(`${http}/healthz`);
      expect(health.status).toBe(200);
      expect(exitCode).toBeUndefined();
    } finally {
      child.kill("SIGTERM");
      await exited;
    }
  }, 30_000);
});
