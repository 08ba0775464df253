import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { BROKER_NODE_FLAGS } from "../../../broker/src/node-flags.js";
import { deployedAllocator } from "../../../scripts/lib/allocator.js";
import { isPeerReply, type PeerReply } from "./ipc.js";

export type PeerKind = "tether" | "aedes" | "mosquitto";

export const PEER_LABEL: Record<PeerKind, string> = {
  tether: "Tether",
  aedes: "bare Aedes 1.2",
  mosquitto: "Mosquitto",
};

export interface PeerMeasurement {
  /** VmRSS of /proc/<pid>/status, bytes (after a forced GC for the Node brokers). */
  rss: number;
  /** V8 heap used after GC; null for Mosquitto. */
  heapUsed: number | null;
  counts: Record<string, number>;
}

/** A broker under test, each in its own process so its RSS is its own. */
export interface Peer {
  kind: PeerKind;
  pid: number;
  mqttPort: number;
  /** Tether's HTTP API; null for the others. */
  httpPort: number | null;
  measure(): Promise<PeerMeasurement>;
  close(): Promise<void>;
  /** SIGKILL, resolved once the process is gone (the reconnect storm). */
  kill(): Promise<void>;
  /** The ports it listened on, to check they are closed afterwards. */
  ports(): number[];
}

export function vmRss(pid: number): number {
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  if (kb === undefined) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kb) * 1024;
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", () => resolve());
  });
}

async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  const done = exited(child);
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await done;
  clearTimeout(timer);
}

const ENTRY = fileURLToPath(new URL("./peer-process.ts", import.meta.url));

/** Tether or bare Aedes in a child Node process (peer-process.ts). */
export async function startNodePeer(
  kind: "tether" | "aedes",
  events?: { url: string; secret: string },
  settings?: Record<string, number>,
  /**
   * "deployed": Tether on the allocator it is deployed with (jemalloc when installed,
   * TETHER_ALLOCATOR chooses; docs/MEMORY.md, "Allocator"). "lab": glibc with fewer arenas, as
   * bare Aedes always runs — for readings taken right after a forced GC, which jemalloc's
   * ~10 s decay of freed pages would scatter (−3.8 to 9.9 KB per router by step, 2026-11-30).
   */
  allocator: "deployed" | "lab" = "deployed",
): Promise<Peer> {
  // BENCH_NODE_ARGS_TETHER / _AEDES: extra Node flags for one broker (profiling, V8 flag trials).
  const extra = process.env[`BENCH_NODE_ARGS_${kind.toUpperCase()}`]?.split(" ").filter(Boolean) ?? [];
  // Tether as deployed (broker/src/node-flags.ts); bare Aedes with Node's defaults.
  const flags = kind === "tether" ? BROKER_NODE_FLAGS : [];
  const args = ["--expose-gc", ...flags, ...extra, "--import", "tsx", ENTRY, "--kind", kind];
  if (events) args.push("--events-url", events.url, "--events-secret", events.secret);
  if (settings) args.push("--settings", JSON.stringify(settings));
  const malloc =
    kind === "tether" && allocator === "deployed"
      ? deployedAllocator().env
      : { MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX || "2" };
  const child = spawn(process.execPath, args, {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    env: { ...process.env, ...malloc },
  });
  // Bound: the bench awaits each request, so at most one or two wait.
  const waiting = new Map<number, (reply: PeerReply) => void>();
  let nextId = 1;
  child.on("message", (message: unknown) => {
    if (!isPeerReply(message) || !("id" in message) || message.id === undefined) return;
    waiting.get(message.id)?.(message);
    waiting.delete(message.id);
  });
  const ready = await new Promise<{ mqttPort: number; httpPort: number | null }>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`${kind} exited early (code ${code})`)));
    child.on("message", (message: unknown) => {
      if (!isPeerReply(message)) return;
      if (message.type === "ready") resolve(message);
      if (message.type === "failed" && message.id === undefined)
        reject(new Error(`${kind}: ${message.message}`));
    });
  });
  const request = (op: "measure" | "close", timeoutMs = 60_000) =>
    new Promise<PeerReply>((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error(`${kind}: no answer to ${op}`));
      }, timeoutMs);
      waiting.set(id, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      child.send({ id, op });
    });
  const pid = child.pid ?? -1;
  return {
    kind,
    pid,
    mqttPort: ready.mqttPort,
    httpPort: ready.httpPort,
    ports: () => [ready.mqttPort, ...(ready.httpPort === null ? [] : [ready.httpPort])],
    async measure() {
      const reply = await request("measure");
      if (reply.type !== "measured")
        throw new Error(`${kind}: ${reply.type === "failed" ? reply.message : reply.type}`);
      return { rss: vmRss(pid), heapUsed: reply.heapUsed, counts: reply.counts };
    },
    async kill() {
      const done = exited(child);
      child.kill("SIGKILL");
      await done;
    },
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      await request("close", 30_000).catch(() => child.kill("SIGKILL"));
      await stopChild(child, 10_000);
    },
  };
}

/** A free TCP port on loopback (released just before Mosquitto binds it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** True when nothing listens on any of `ports` any more. */
export async function portsClosed(ports: number[]): Promise<boolean> {
  const open = await Promise.all(ports.map(canConnect));
  return open.every((isOpen) => !isOpen);
}

export const MOSQUITTO = "/usr/sbin/mosquitto";

/**
 * Debian's Mosquitto on a free port with a temporary config: anonymous, no persistence,
 * no connection cap, Nagle off, the same queue bound as Tether's forwarder.
 */
export async function startMosquitto(): Promise<Peer> {
  const dir = mkdtempSync(join(tmpdir(), "tether-bench-mosquitto-"));
  const port = await freePort();
  const config = join(dir, "mosquitto.conf");
  writeFileSync(
    config,
    [
      `listener ${port} 127.0.0.1`,
      "allow_anonymous true",
      "persistence false",
      "max_connections -1",
      // Tether's event forwarder buffers at most 10,000 events; the same bound here.
      "max_queued_messages 10000",
      // Tether's MQTT server disables Nagle; so does this, so RTTs compare brokers, not Nagle.
      "set_tcp_nodelay true",
      "log_dest stderr",
      "log_type error",
      "",
    ].join("\n"),
  );
  const child = spawn(MOSQUITTO, ["-c", config], { stdio: ["ignore", "ignore", "inherit"] });
  const deadline = Date.now() + 10_000;
  while (!(await canConnect(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`mosquitto did not start on port ${port} (exit ${child.exitCode})`);
    }
    await sleep(50);
  }
  const pid = child.pid ?? -1;
  return {
    kind: "mosquitto",
    pid,
    mqttPort: port,
    httpPort: null,
    ports: () => [port],
    measure: async () => ({ rss: vmRss(pid), heapUsed: null, counts: {} }),
    async kill() {
      const done = exited(child);
      child.kill("SIGKILL");
      await done;
      rmSync(dir, { recursive: true, force: true });
    },
    async close() {
      child.kill("SIGTERM");
      await stopChild(child, 10_000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
