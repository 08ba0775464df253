/**
 * Private redis-server and mosquitto for one test run: free ports, a temporary
 * directory, no persistence. Nothing the tests do can reach the machine's own
 * Redis or Mosquitto, and nothing is left behind — not on a failed run, not on
 * Ctrl-C, and (on Linux) not even when the test runner is killed outright.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { freePort } from "../../scripts/lib/ports.js";
import { dieWithParent } from "../../scripts/lib/processes.js";

/** Where the services' URLs travel to the test files and what they spawn. */
export const REDIS_URL_ENV = "TEST_REDIS_URL";
export const MOSQUITTO_URL_ENV = "TEST_MOSQUITTO_URL";
/** Which of them this run started itself (the others were preset), comma separated. */
export const STARTED_ENV = "TEST_SERVICES_STARTED";

const DIR_PREFIX = "tether-test-services-";
const READY_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 3_000;
/** A service that lost the race for its port is retried on another one, this many times. */
const PORT_ATTEMPTS = 5;
/** Lines of a service's output kept for the error message when it does not start (bound). */
const TAIL_LINES = 20;

export interface RunningService {
  name: string;
  url: string;
  child: ChildProcess;
  /** SIGTERM, then SIGKILL after a grace period; resolves once the process is gone. */
  stop(): Promise<void>;
}

class PortTaken extends Error {}

/** Spawns `command` and resolves once a line of its output matches `ready`. */
function spawnService(
  name: string,
  url: string,
  command: string,
  args: string[],
  ready: RegExp,
): Promise<RunningService> {
  const { file, argv } = dieWithParent(command, args);
  const child = spawn(file, argv, { stdio: ["ignore", "pipe", "pipe"] });
  guard(child);
  const tail: string[] = [];
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const killer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
    await exited;
    clearTimeout(killer);
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`${name} did not start in ${READY_TIMEOUT_MS} ms:\n  ${tail.join("\n  ")}`));
    }, READY_TIMEOUT_MS);
    const onLine = (line: string) => {
      tail.push(line);
      if (tail.length > TAIL_LINES) tail.shift();
      if (ready.test(line)) {
        clearTimeout(timer);
        resolve({ name, url, child, stop });
      }
    };
    for (const stream of [child.stdout, child.stderr]) {
      if (stream) createInterface({ input: stream }).on("line", onLine);
    }
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`${name} (${command}) could not be started: ${error.message}`));
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      const output = tail.join("\n  ");
      if (/address already in use/i.test(output)) reject(new PortTaken(output));
      else reject(new Error(`${name} exited with code ${code} before it was ready:\n  ${output}`));
    });
  });
}

/** Retries on another free port when something took the chosen one first. */
async function onFreePort(start: (port: number) => Promise<RunningService>): Promise<RunningService> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(await freePort());
    } catch (error) {
      if (!(error instanceof PortTaken) || attempt >= PORT_ATTEMPTS) throw error;
    }
  }
}

export function startRedis(binary: string, dir: string): Promise<RunningService> {
  return onFreePort((port) =>
    spawnService(
      "redis-server",
      `redis://127.0.0.1:${port}`,
      binary,
      [
        ...["--port", String(port), "--bind", "127.0.0.1", "--protected-mode", "yes"],
        // No persistence: nothing is written, so nothing can be read back by a later run.
        ...["--save", "", "--appendonly", "no", "--dir", dir, "--logfile", ""],
      ],
      /Ready to accept connections/,
    ),
  );
}

export function startMosquitto(binary: string, dir: string): Promise<RunningService> {
  return onFreePort((port) => {
    const config = join(dir, `mosquitto-${port}.conf`);
    // allow_anonymous: the SDK test uses Mosquitto as a plain third-party broker.
    writeFileSync(
      config,
      [
        `listener ${port} 127.0.0.1`,
        // Started as root, mosquitto would switch to its own user, and a change of user
        // clears the parent-death signal: it would outlive a killed test runner.
        `user ${userInfo().username}`,
        "allow_anonymous true",
        "persistence false",
        "log_dest stderr",
        "log_type error",
        "log_type warning",
        "log_type notice",
        // "running" (the ready line) is logged at this level.
        "log_type information",
      ].join("\n"),
    );
    return spawnService("mosquitto", `mqtt://127.0.0.1:${port}`, binary, ["-c", config], /running$/);
  });
}

/** A temporary directory named after this process, so a later run can sweep it if we die. */
export function makeServicesDir(): string {
  sweepStaleDirs();
  return mkdtempSync(join(tmpdir(), `${DIR_PREFIX}${process.pid}-`));
}

/** Removes directories left by runs whose process no longer exists (one killed with SIGKILL). */
function sweepStaleDirs(): void {
  for (const entry of readdirSync(tmpdir())) {
    if (!entry.startsWith(DIR_PREFIX)) continue;
    const pid = Number(entry.slice(DIR_PREFIX.length).split("-")[0]);
    if (!Number.isInteger(pid) || pid <= 0 || isAlive(pid)) continue;
    rmSync(join(tmpdir(), entry), { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Children and directories to remove synchronously if this process exits before its
 * teardown ran: vitest turns Ctrl-C into process.exit() without tearing down global
 * setups. Bound: the two services and their directory, removed again on stop.
 */
const guarded = new Set<ChildProcess>();
const guardedDirs = new Set<string>();

function guard(child: ChildProcess): void {
  installExitHook();
  guarded.add(child);
  child.once("exit", () => guarded.delete(child));
}

export function guardDir(dir: string): void {
  installExitHook();
  guardedDirs.add(dir);
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  guardedDirs.delete(dir);
}

let hooked = false;
function installExitHook(): void {
  if (hooked) return;
  hooked = true;
  const cleanup = () => {
    for (const child of guarded) child.kill("SIGKILL");
    for (const dir of guardedDirs) rmSync(dir, { recursive: true, force: true });
  };
  process.once("exit", cleanup);
  // A closed terminal: nobody else handles SIGHUP, so clean up and die of it as before.
  process.once("SIGHUP", () => {
    cleanup();
    process.kill(process.pid, "SIGHUP");
  });
}
