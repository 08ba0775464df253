import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { ROOT } from "../../scripts/lib/system.js";
import { until } from "./helpers.js";

/** `npm start` as a developer runs it, minus npm: `node --import tsx scripts/start.ts …`. */
export class Launcher {
  /** Bound: one launcher run's output (a few KB; the routers' progress line is every 10 s). */
  output = "";
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(args: string[], env: NodeJS.ProcessEnv) {
    this.child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "scripts/start.ts"), ...args], {
      cwd: ROOT,
      env,
      stdio: ["ignore", "pipe", "pipe"],
      // Its own process group, like a shell job: SIGINT to the group is what Ctrl-C sends.
      detached: true,
    });
    for (const stream of [this.child.stdout, this.child.stderr]) {
      stream?.on("data", (chunk: Buffer) => {
        this.output += chunk.toString();
      });
    }
    this.exited = new Promise((resolve) => {
      this.child.once("exit", (code, signal) => resolve({ code, signal }));
    });
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error("launcher did not start");
    return this.child.pid;
  }

  /** Resolves when `text` was printed; rejects if the launcher exits first or time runs out. */
  async waitForOutput(text: string, timeoutMs: number): Promise<void> {
    let exited = false;
    void this.exited.then(() => {
      exited = true;
    });
    await until(
      `"${text}" from npm start`,
      () => {
        if (this.output.includes(text)) return true;
        if (exited) throw new Error(`npm start exited before printing "${text}":\n${this.output}`);
        return false;
      },
      timeoutMs,
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}\n--- output ---\n${this.output}`);
    });
  }

  /** Ctrl-C: SIGINT to the process group, as a terminal sends it (nothing if it has exited). */
  interrupt(): void {
    try {
      process.kill(-this.pid, "SIGINT");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
    }
  }

  /** Test cleanup: whatever is left of the group, and of the children's own groups, is killed. */
  killAll(pids: number[]): void {
    for (const pid of [this.pid, ...pids]) {
      try {
        process.kill(-pid, "SIGKILL");
      } catch {
        // Not a group leader, or already gone.
      }
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
  }
}

/** Every live descendant of `pid` (Linux /proc); [] where /proc is missing. */
export function descendants(pid: number): number[] {
  if (!existsSync("/proc/self/stat")) return [];
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // "pid (comm) state ppid …" — comm may hold spaces and parentheses, so split after the last ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      parentOf.set(Number(entry), Number(fields[1]));
    } catch {
      // The process ended while we looked.
    }
  }
  const found: number[] = [];
  const frontier = [pid];
  while (frontier.length > 0) {
    const parent = frontier.pop();
    for (const [child, ppid] of parentOf) {
      if (ppid === parent) {
        found.push(child);
        frontier.push(child);
      }
    }
  }
  return found;
}

/** The command line of a live process, or null when it is gone (zombies count as gone). */
export function commandLine(pid: number): string | null {
  try {
    const state = readFileSync(`/proc/${pid}/stat`, "utf8");
    if (state.slice(state.lastIndexOf(")") + 2).startsWith("Z")) return null;
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ").trim();
  } catch {
    return null;
  }
}

/** True when `port` can be bound on 127.0.0.1 right now. */
export function portIsFree(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Every TCP port in LISTEN state that one of `pids` holds (Linux /proc/net/tcp{,6}); [] elsewhere. */
export function listeningPorts(pids: number[]): number[] {
  const portOfInode = new Map<string, number>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    // "sl local_address rem_address st … inode": st 0A is LISTEN; the port is hex after ':'.
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      const [local, state, inode] = [fields[1], fields[3], fields[9]];
      if (state === "0A" && local && inode)
        portOfInode.set(inode, Number.parseInt(local.split(":")[1] ?? "", 16));
    }
  }
  const ports = new Set<number>();
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // gone, or not ours to read
    }
    for (const fd of fds) {
      try {
        const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
        const port = inode ? portOfInode.get(inode) : undefined;
        if (port !== undefined) ports.add(port);
      } catch {
        // closed while we looked
      }
    }
  }
  return [...ports];
}
