import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { createInterface } from "node:readline";

const SETPRIV = "/usr/bin/setpriv";

function hasSetpriv(): boolean {
  if (process.platform !== "linux") return false;
  try {
    accessSync(SETPRIV, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The command line that runs `command` so that it gets SIGTERM when this process dies,
 * however it dies (SIGKILL included): Linux's parent-death signal, set by util-linux's
 * `setpriv`, which then execs the command (same pid). Elsewhere the command as is; the
 * caller's own exit handling is then the only guard.
 */
export function dieWithParent(command: string, args: string[]): { file: string; argv: string[] } {
  return hasSetpriv()
    ? { file: SETPRIV, argv: ["--pdeathsig", "TERM", "--", command, ...args] }
    : { file: command, argv: args };
}

/** A child process of the local system, with its output prefixed and kept in a bounded tail. */
export interface ManagedProcess {
  name: string;
  child: ChildProcess;
  /** Last lines of output (bound: TAIL_LINES), for error messages. */
  tail(): string[];
  /** Resolves with the exit code (128 + nothing when killed by a signal, 127 when it never started). */
  exited: Promise<number | null>;
  /** SIGTERM to the whole process group, SIGKILL after `timeoutMs`; idempotent. */
  stop(timeoutMs?: number): Promise<void>;
  /** SIGKILL to the whole process group at once (a second Ctrl-C). */
  kill(): void;
}

const TAIL_LINES = 40;

export interface SpawnOptions {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Where prefixed output goes; null = keep only the tail. */
  output?: ((line: string) => void) | null;
  /** Rewrites a line before it is shown (null drops it); the tail keeps it as it came. */
  filter?: (line: string) => string | null;
}

export function spawnManaged(options: SpawnOptions): ManagedProcess {
  // A launcher or test runner killed outright must not leave the system running.
  const { file, argv } = dieWithParent(options.command, options.args);
  const child = spawn(file, argv, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ["ignore", "pipe", "pipe"],
    // Own process group, so stop() also ends grandchildren (wrangler → workerd), and a
    // terminal's Ctrl-C reaches only the launcher, which then stops them in order.
    detached: true,
  });
  const lines: string[] = [];
  const onLine = (line: string) => {
    lines.push(line);
    if (lines.length > TAIL_LINES) lines.shift();
    const shown = options.filter ? options.filter(line) : line;
    if (shown !== null) options.output?.(`[${options.name}] ${shown}`);
  };
  for (const stream of [child.stdout, child.stderr]) {
    if (stream) createInterface({ input: stream }).on("line", onLine);
  }
  const exited = new Promise<number | null>((resolve) => {
    child.once("exit", (code, signal) => resolve(code ?? (signal ? 128 : null)));
    child.once("error", (error) => {
      onLine(`failed to start: ${error.message}`);
      resolve(127);
    });
  });
  // The group outlives its leader when a grandchild ignores SIGTERM, so signal it even
  // after the leader has exited (ESRCH once the whole group is gone).
  const signalGroup = (signal: NodeJS.Signals) => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // The group is already gone: nothing left to stop.
    }
  };
  let stopping: Promise<void> | undefined;
  return {
    name: options.name,
    child,
    tail: () => [...lines],
    exited,
    stop(timeoutMs = 8_000) {
      stopping ??= (async () => {
        signalGroup("SIGTERM");
        const timer = setTimeout(() => signalGroup("SIGKILL"), timeoutMs);
        await exited;
        clearTimeout(timer);
        // Grandchildren that ignored SIGTERM (workerd) must not outlive us.
        signalGroup("SIGKILL");
      })();
      return stopping;
    },
    kill: () => signalGroup("SIGKILL"),
  };
}

export interface ReadyCheck {
  /** What is awaited, for the error message ("edge", "router-0 online at the edge"). */
  what: string;
  /** Resolves true when ready; false or a throw means "not yet" (the reason is kept). */
  probe(): Promise<boolean>;
  /** The process whose exit makes waiting pointless; its tail goes into the error. */
  process: ManagedProcess;
  timeoutMs: number;
  signal?: AbortSignal;
}

/** Polls `probe` every 200 ms until it says ready, the process exits, the signal aborts or time runs out. */
export async function waitUntilReady(check: ReadyCheck): Promise<void> {
  const deadline = Date.now() + check.timeoutMs;
  let exited = false;
  void check.process.exited.then(() => {
    exited = true;
  });
  let lastError = "no answer";
  while (Date.now() < deadline && !exited) {
    check.signal?.throwIfAborted();
    try {
      if (await check.probe()) return;
      lastError = "not ready";
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  check.signal?.throwIfAborted();
  const why = exited
    ? "exited before it was ready"
    : `was not ready after ${check.timeoutMs} ms (${lastError})`;
  throw new Error(
    `${check.what} ${why}. Last output of ${check.process.name}:\n  ${check.process.tail().join("\n  ")}`,
  );
}

/** How long one readiness probe may take, by default. */
const PROBE_TIMEOUT_MS = 2_000;

/**
 * A probe that is ready when `url` answers 2xx (and `accept(body)` when given).
 *
 * Bounded by a timer of our own rather than `AbortSignal.timeout` alone: under a loaded
 * machine a launcher once sat for 15 minutes on a probe whose fetch never settled (no
 * timer, no socket left), its abort evidently never delivered; the start-up deadline,
 * checked between probes, could not help. The race ends the probe whatever fetch does.
 */
export function httpProbe(
  url: string,
  init: RequestInit = {},
  accept: (body: unknown) => boolean = () => true,
  timeoutMs = PROBE_TIMEOUT_MS,
): () => Promise<boolean> {
  return async () => {
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = new Error(`no answer from ${url} in ${timeoutMs} ms`);
        controller.abort(error);
        reject(error);
      }, timeoutMs);
    });
    const answer = (async () => {
      const response = await fetch(url, { ...init, signal: controller.signal });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      return accept(await response.json());
    })();
    answer.catch(() => {}); // settled by the race; a late rejection is not unhandled
    try {
      return await Promise.race([answer, deadline]);
    } finally {
      clearTimeout(timer);
    }
  };
}
