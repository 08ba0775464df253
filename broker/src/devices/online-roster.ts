import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { isDeviceId, type TetherEvent } from "../../../protocol/src/index.js";
import type { TimerHandle } from "../clock.js";
import type { BrokerContext, EventSink } from "../context.js";
import type { EncodedEvent } from "../forwarder/encoded-event.js";

/** A device online on this node, and how long it may take to come back (1.5 × its keepalive). */
export interface RosterEntry {
  deviceId: string;
  graceMs: number;
}

export interface OnlineRosterOptions {
  /** STATE_DIR: where `online-devices.json` lives. */
  dir: string;
  /** The devices online on this node now. */
  onlineDevices(): Iterable<RosterEntry>;
  /** After a presence change, the file is rewritten within this long (default 1 s). */
  writeDelayMs?: number;
}

export const ROSTER_FILE = "online-devices.json";
/** More entries than any one node holds; a larger file is refused as not ours. */
const MAX_ENTRIES = 2_000_000;
/** 1.5 × the largest keepalive MQTT allows (65,535 s), plus Aedes's 1 ms. */
const MAX_GRACE_MS = 98_302_501;

const rosterSchema = z.object({
  version: z.literal(1),
  writtenAt: z.number(),
  devices: z
    .array(z.tuple([z.string().refine(isDeviceId), z.number().int().min(0).max(MAX_GRACE_MS)]))
    .max(MAX_ENTRIES),
});

/**
 * Memory mode only (issue 12): remembers which devices were online across a broker
 * restart. The edge still shows a device online until it hears otherwise, and a
 * restarted memory broker has forgotten everyone; so this node keeps a small file in
 * STATE_DIR listing its online devices (rewritten at most once per `writeDelayMs`
 * after a presence change, atomically: temp file + rename). At start it reads the
 * file, and reports `presence offline reason=broker_restart` for each listed device
 * that has not connected again within its grace (1.5 × its keepalive, the time Aedes
 * would have waited). It sits in front of the event sink to see presence go by.
 * Redis mode needs none of this: other nodes sweep a dead node's devices.
 */
export class OnlineRoster implements EventSink {
  readonly #ctx: BrokerContext;
  readonly #inner: EventSink;
  readonly #options: OnlineRosterOptions;
  readonly #path: string;
  /**
   * Devices listed at start that have not come back: id → deadline (epoch ms) and grace.
   * Bound: the file's entries (≤ the previous run's online devices); each leaves when it
   * connects or is reported offline.
   */
  readonly #awaited = new Map<string, { deadline: number; graceMs: number }>();
  #checkTimer: TimerHandle | null = null;
  #writeTimer: TimerHandle | null = null;
  #writing: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(ctx: BrokerContext, inner: EventSink, options: OnlineRosterOptions) {
    this.#ctx = ctx;
    this.#inner = inner;
    this.#options = options;
    this.#path = join(options.dir, ROSTER_FILE);
  }

  /** Devices from the previous run still awaited. */
  get awaiting(): number {
    return this.#awaited.size;
  }

  push(event: TetherEvent): void {
    if (event.type === "presence") this.#presenceChanged(event.deviceId, event.online);
    this.#inner.push(event);
  }

  pushEncoded(event: EncodedEvent): void {
    this.#inner.pushEncoded(event);
  }

  /**
   * Reads the previous run's file (before the node accepts connections) and starts waiting.
   * An unusable STATE_DIR is logged, not fatal: the broker serves, only without this memory.
   */
  async start(): Promise<void> {
    let previous: Array<[string, number]>;
    try {
      await mkdir(this.#options.dir, { recursive: true });
      previous = await this.#read();
    } catch (error) {
      this.#ctx.logger.error(
        { err: error, dir: this.#options.dir },
        "STATE_DIR unusable: after a restart, devices that do not come back stay online at the edge",
      );
      previous = [];
    }
    const now = this.#ctx.clock.now();
    for (const [deviceId, graceMs] of previous)
      this.#awaited.set(deviceId, { deadline: now + graceMs, graceMs });
    if (this.#awaited.size > 0) {
      this.#ctx.logger.info(
        { devices: this.#awaited.size },
        "awaiting the devices online before the restart",
      );
    }
    this.#armCheck();
    await this.#write();
  }

  /** Stops the timers and writes the file one last time (every device released by now). */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#checkTimer !== null) this.#ctx.clock.clearTimeout(this.#checkTimer);
    if (this.#writeTimer !== null) this.#ctx.clock.clearTimeout(this.#writeTimer);
    this.#checkTimer = this.#writeTimer = null;
    await this.#write();
  }

  #presenceChanged(deviceId: string, online: boolean): void {
    if (online) this.#awaited.delete(deviceId);
    if (this.#writeTimer !== null || this.#closed) return;
    this.#writeTimer = this.#ctx.clock.setTimeout(() => {
      this.#writeTimer = null;
      this.#write().catch(() => {});
    }, this.#options.writeDelayMs ?? 1_000);
  }

  /** Reports offline every awaited device whose grace has passed, then waits for the next. */
  #check(): void {
    this.#checkTimer = null;
    const now = this.#ctx.clock.now();
    for (const [deviceId, { deadline }] of this.#awaited) {
      if (deadline > now) continue;
      this.#awaited.delete(deviceId);
      this.#ctx.logger.info({ deviceId }, "offline: did not come back after the broker restarted");
      this.push({ type: "presence", deviceId, ts: now, online: false, reason: "broker_restart" });
    }
    this.#armCheck();
  }

  #armCheck(): void {
    if (this.#closed || this.#awaited.size === 0) return;
    let next = Number.POSITIVE_INFINITY;
    for (const { deadline } of this.#awaited.values()) next = Math.min(next, deadline);
    this.#checkTimer = this.#ctx.clock.setTimeout(
      () => this.#check(),
      Math.max(0, next - this.#ctx.clock.now()),
    );
  }

  async #read(): Promise<Array<[string, number]>> {
    let text: string;
    try {
      text = await readFile(this.#path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw error;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
    const parsed = rosterSchema.safeParse(json);
    if (!parsed.success) {
      this.#ctx.logger.warn({ path: this.#path }, "online roster unreadable: ignored");
      return [];
    }
    return parsed.data.devices;
  }

  /** Writes the file (temp + rename, so a crash never leaves half a file); writes never overlap. */
  #write(): Promise<void> {
    this.#writing = this.#writing.then(async () => {
      const devices: Array<[string, number]> = [];
      for (const { deviceId, graceMs } of this.#options.onlineDevices()) devices.push([deviceId, graceMs]);
      for (const [deviceId, { graceMs }] of this.#awaited) devices.push([deviceId, graceMs]);
      const body = JSON.stringify({ version: 1, writtenAt: this.#ctx.clock.now(), devices });
      const temp = `${this.#path}.${process.pid}.tmp`;
      try {
        await writeFile(temp, body);
        await rename(temp, this.#path);
      } catch (error) {
        this.#ctx.logger.error({ err: error, path: this.#path }, "could not write the online roster");
      }
    });
    return this.#writing;
  }
}
