import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, readFileSync } from "node:fs";
import { brokerNodeArgs } from "../scripts/lib/broker-build.js";

const READY = /MQTT on (mqtts?:\/\/\S+?), HTTP on (http:\/\/\S+)/;
const INSPECTOR = /Debugger listening on (ws:\/\/\S+)/;

/** Tether's broker as the operators run it: the built dist/broker/cli.js, configured by env, in its own process. */
export class BrokerProcess {
  private constructor(
    private readonly child: ChildProcess,
    readonly mqttUrl: string,
    readonly httpUrl: string,
    /** The V8 inspector's WebSocket URL when started with `inspect` (soak/inspector-gc.ts). */
    readonly inspectorUrl: string | null,
  ) {}

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /**
   * Starts the broker with `env` (DEVICE_SECRET, …) on top of this process's env;
   * its output goes to `logFile`. Node runs the built CLI directly (rebuilt first when stale),
   * so the pid is the broker's and /proc/<pid> is its memory.
   */
  static start(
    env: Record<string, string>,
    logFile: string,
    { inspect = false, timeoutMs = 30_000, ensureBuilt = true } = {},
  ): Promise<BrokerProcess> {
    const log = createWriteStream(logFile);
    // The inspector listens on loopback, on a free port, for the soak's forced GCs only.
    const args = [...(inspect ? ["--inspect=127.0.0.1:0"] : []), ...brokerNodeArgs({ ensureBuilt })];
    const child = spawn(process.execPath, args, {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    let inspectorUrl: string | null = null;
    const onStderr = (chunk: Buffer) => {
      inspectorUrl ??= INSPECTOR.exec(chunk.toString())?.[1] ?? null;
      if (inspectorUrl) child.stderr?.off("data", onStderr);
    };
    if (inspect) child.stderr?.on("data", onStderr);
    return new Promise((resolve, reject) => {
      let seen = "";
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`the broker did not start within ${timeoutMs} ms (see ${logFile})`));
      }, timeoutMs);
      const onData = (chunk: Buffer) => {
        seen = (seen + chunk.toString()).slice(-4096);
        const match = READY.exec(seen);
        if (!match?.[1] || !match[2]) return;
        clearTimeout(timer);
        child.stdout?.off("data", onData);
        child.off("exit", onExit);
        resolve(new BrokerProcess(child, match[1], match[2].replace(/[,.]$/, ""), inspectorUrl));
      };
      const onExit = (code: number | null) => {
        clearTimeout(timer);
        reject(new Error(`the broker exited with code ${code} before it was ready (see ${logFile})`));
      };
      child.stdout?.on("data", onData);
      child.once("exit", onExit);
    });
  }

  /** VmRSS of /proc/<pid>/status, bytes. */
  vmRss(): number {
    const status = readFileSync(`/proc/${this.pid}/status`, "utf8");
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
    if (kb === undefined) throw new Error(`no VmRSS in /proc/${this.pid}/status`);
    return Number(kb) * 1024;
  }

  /** SIGKILL, as a crash or the OOM killer would (the bench's reconnect storm); resolves once it is gone. */
  kill(): Promise<void> {
    if (this.exited) return Promise.resolve();
    return new Promise((resolve) => {
      this.child.once("exit", () => resolve());
      this.child.kill("SIGKILL");
    });
  }

  /** SIGTERM (graceful close), SIGKILL after `graceMs`; resolves with the exit code. */
  stop(graceMs = 15_000): Promise<number | null> {
    if (this.exited) return Promise.resolve(this.child.exitCode);
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
      this.child.once("exit", (code) => {
        clearTimeout(timer);
        resolve(code);
      });
      this.child.kill("SIGTERM");
    });
  }
}
