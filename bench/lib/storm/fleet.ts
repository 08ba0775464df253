/**
 * A fleet of routers at the cost of one raw socket each, reconnecting as the device SDK
 * does (device-sdk/src/device.ts): on every close the next delay is the SDK's own
 * `Backoff` (capped exponential, full jitter), reset after a stable connection; a connect
 * attempt gives up after the SDK's default connect timeout (10 s). mqtt.js clients would
 * measure the client library on this shared 2-core machine; this measures the broker.
 */
import type { Socket } from "node:net";
import { Backoff, type BackoffOptions, DEFAULT_BACKOFF } from "../../../device-sdk/src/backoff.js";
import { openSession, type SessionPackets } from "../raw-mqtt.js";

/** The SDK's default connectTimeoutMs (device-sdk/src/options.ts). */
const CONNECT_TIMEOUT_MS = 10_000;

export interface FleetCounts {
  online: number;
  attempts: number;
  /** Failed attempts by cause: refused by the kernel (no broker), closed or refused by the broker, timed out. */
  failures: Record<string, number>;
}

function cause(message: string): string {
  if (message.includes("ECONNREFUSED")) return "no listener (ECONNREFUSED)";
  if (message.includes("closed by the broker")) return "closed before CONNACK (admission)";
  if (message.includes("CONNACK refused")) return message;
  if (message.includes("within")) return "timed out";
  return message.split(":")[0] ?? message;
}

export class Fleet {
  readonly counts: FleetCounts = { online: 0, attempts: 0, failures: {} };
  /** performance.now() of each router's last SUBACK (its last time online). */
  readonly onlineAt: Float64Array;
  readonly #sockets: Array<Socket | null>;
  readonly #backoffs: Backoff[];
  readonly #timers: Array<NodeJS.Timeout | undefined>;
  #stopped = false;

  constructor(
    private readonly packets: SessionPackets[],
    private readonly endpoint: (i: number) => { host: string; port: number; localAddress?: string },
    backoff: BackoffOptions = DEFAULT_BACKOFF,
  ) {
    const n = packets.length;
    this.onlineAt = new Float64Array(n);
    this.#sockets = new Array(n).fill(null);
    this.#backoffs = Array.from({ length: n }, () => new Backoff(backoff, Math.random));
    this.#timers = new Array(n).fill(undefined);
  }

  /** Connects every router now (the first time: `concurrency` at a time, as a fleet is rolled out). */
  async start(concurrency: number): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < this.packets.length) {
        const i = next++;
        await this.#attempt(i).catch(() => {});
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  }

  /** As after 30 s of stable connection (the SDK's resetAfterMs): every router's next delay starts small. */
  settle(): void {
    for (const b of this.#backoffs) b.reset();
  }

  get size(): number {
    return this.packets.length;
  }

  async #attempt(i: number): Promise<void> {
    if (this.#stopped) return;
    this.counts.attempts++;
    try {
      const socket = await openSession(
        this.endpoint(i),
        this.packets[i] as SessionPackets,
        CONNECT_TIMEOUT_MS,
      );
      if (this.#stopped) {
        socket.destroy();
        return;
      }
      this.#sockets[i] = socket;
      this.counts.online++;
      this.onlineAt[i] = performance.now();
      socket.once("close", () => {
        this.#sockets[i] = null;
        this.counts.online--;
        this.#schedule(i);
      });
    } catch (error) {
      const key = cause(error instanceof Error ? error.message : String(error));
      this.counts.failures[key] = (this.counts.failures[key] ?? 0) + 1;
      this.#schedule(i);
      throw error;
    }
  }

  #schedule(i: number): void {
    if (this.#stopped) return;
    const delay = (this.#backoffs[i] as Backoff).next();
    this.#timers[i] = setTimeout(() => void this.#attempt(i).catch(() => {}), delay);
  }

  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers) clearTimeout(t);
    for (const s of this.#sockets) s?.destroy();
  }
}
