import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type BrokerKind, isReply, type Measurement, type Reply } from "./ipc.js";

export interface ChildMeasurement extends Measurement {
  /** VmRSS of /proc/<pid>/status, read by the parent right after the child's GC. */
  vmRssBytes: number;
}

const ENTRY = fileURLToPath(new URL("./broker-process.ts", import.meta.url));

/** The bench's handle on a broker running in its own process (bench/lib/broker-process.ts). */
export class BrokerChild {
  private nextId = 1;
  /** Bound: the bench awaits each request, so at most a couple are pending. */
  private readonly waiting = new Map<number, (reply: Reply) => void>();

  private constructor(
    private readonly child: ChildProcess,
    readonly kind: BrokerKind,
    readonly mqttPort: number,
  ) {
    child.on("message", (message: unknown) => {
      if (!isReply(message) || message.type === "ready") return;
      const id = "id" in message ? message.id : undefined;
      if (id === undefined) return;
      this.waiting.get(id)?.(message);
      this.waiting.delete(id);
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  static start(
    kind: BrokerKind,
    options: { sessionExpirySeconds?: number; reaperIntervalMs?: number } = {},
  ): Promise<BrokerChild> {
    const args = ["--expose-gc", "--import", "tsx", ENTRY, "--kind", kind];
    if (options.sessionExpirySeconds !== undefined) {
      args.push("--session-expiry-seconds", String(options.sessionExpirySeconds));
    }
    if (options.reaperIntervalMs !== undefined)
      args.push("--reaper-interval-ms", String(options.reaperIntervalMs));
    const child = spawn(process.execPath, args, {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      // As deployed (README's systemd unit): fewer glibc malloc arenas; both Node brokers alike.
      env: { ...process.env, MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX || "2" },
    });
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`${kind} broker exited early (code ${code})`));
      child.once("exit", onExit);
      child.on("message", function onReady(message: unknown) {
        if (!isReply(message)) return;
        if (message.type === "failed") reject(new Error(`${kind} broker failed: ${message.message}`));
        if (message.type !== "ready") return;
        child.off("message", onReady);
        child.off("exit", onExit);
        resolve(new BrokerChild(child, kind, message.mqttPort));
      });
    });
  }

  private request(op: "measure" | "close" | "snapshot", timeoutMs = 60_000, path?: string): Promise<Reply> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`${this.kind} broker: no answer to ${op} in ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, (reply) => {
        clearTimeout(timer);
        if (reply.type === "failed") reject(new Error(`${this.kind} broker: ${reply.message}`));
        else resolve(reply);
      });
      this.child.send(op === "snapshot" ? { id, op, path } : { id, op });
    });
  }

  async measure(): Promise<ChildMeasurement> {
    const reply = await this.request("measure");
    if (reply.type !== "measured") throw new Error(`unexpected reply ${reply.type}`);
    return { ...reply.measurement, vmRssBytes: this.vmRss() };
  }

  /** Writes a heap snapshot of the broker (after GC); resolves with its path. */
  async heapSnapshot(path: string): Promise<string> {
    const reply = await this.request("snapshot", 300_000, path);
    if (reply.type !== "snapshot") throw new Error(`unexpected reply ${reply.type}`);
    return reply.path;
  }

  private vmRss(): number {
    const status = readFileSync(`/proc/${this.pid}/status`, "utf8");
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
    if (kb === undefined) throw new Error(`no VmRSS in /proc/${this.pid}/status`);
    return Number(kb) * 1024;
  }

  /** Graceful close; kills the process if it does not exit in time. */
  async close(): Promise<void> {
    const exited = new Promise<void>((resolve) => {
      if (this.child.exitCode !== null) resolve();
      else this.child.once("exit", () => resolve());
    });
    try {
      await this.request("close", 30_000);
    } catch {
      this.child.kill("SIGKILL");
    }
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill("SIGKILL");
  }
}
