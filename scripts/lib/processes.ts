import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";

/** A child process of the local system, with its output prefixed and kept in a bounded tail. */
export interface ManagedProcess {
  name: string;
  child: ChildProcess;
  /** Last lines of output (bound: TAIL_LINES), for error messages. */
  tail(): string[];
  exited: Promise<number | null>;
  stop(timeoutMs?: number): Promise<void>;
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
}

export function spawnManaged(options: SpawnOptions): ManagedProcess {
  const child = spawn(options.command, options.args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ["ignore", "pipe", "pipe"],
    // Own process group, so stop() also ends grandchildren (npx → wrangler → workerd).
    detached: true,
  });
  const lines: string[] = [];
  const onLine = (line: string) => {
    lines.push(line);
    if (lines.length > TAIL_LINES) lines.shift();
    options.output?.(`[${options.name}] ${line}`);
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
  let stopping: Promise<void> | undefined;
  const signalGroup = (signal: NodeJS.Signals) => {
    if (child.pid === undefined || child.exitCode !== null) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // The group is already gone: nothing left to stop.
    }
  };
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
  };
}

/** Polls `url` until it answers 2xx, the process exits, or the timeout passes. */
export async function waitForHttp(url: string, process: ManagedProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void process.exited.then(() => {
    exited = true;
  });
  let lastError = "no answer";
  while (Date.now() < deadline) {
    if (exited) break;
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      if (response.ok) return;
      lastError = `HTTP ${response.status}`;
    } catch (error) {
      lastError = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const why = exited ? "exited before it was ready" : `was not ready after ${timeoutMs} ms (${lastError})`;
  throw new Error(`${process.name} ${why}. Last output:\n  ${process.tail().join("\n  ")}`);
}
