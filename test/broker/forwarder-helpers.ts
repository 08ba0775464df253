/** A real HTTP receiver standing in for the edge, and the forwarder set up against it. */
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { EventForwarder, type Timers } from "../../broker/src/forwarder.js";
import { createBrokerMetrics } from "../../broker/src/metrics.js";
import { parseEventBatch, SIGNATURE_HEADER, type TetherEvent } from "../../protocol/src/index.js";

export const SECRET = "edge-events-secret-for-tests";
export const NOW_MS = 1_750_000_000_000;

interface Received {
  at: number;
  body: string;
  signature: string | undefined;
  contentType: string | undefined;
  events: TetherEvent[];
}

/** A real HTTP receiver standing in for the edge; `respond` decides each answer. */
export class EdgeReceiver {
  readonly requests: Received[] = [];
  /** Returns a status, or "hang" (never answer) or "reset" (destroy the socket). */
  respond: (request: number, body: string) => number | "hang" | "reset" = () => 204;
  private readonly server: Server;

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        const answer = this.respond(this.requests.length + 1, body);
        if (answer === "reset") {
          this.requests.push(this.record(body, req.headers, []));
          req.socket.destroy();
          return;
        }
        if (answer === "hang") {
          this.requests.push(this.record(body, req.headers, []));
          return;
        }
        const parsed = parseEventBatch(JSON.parse(body));
        const accepted = answer >= 200 && answer < 300 && parsed.ok ? parsed.value.events : [];
        this.requests.push(this.record(body, req.headers, accepted));
        res.writeHead(answer, { "content-type": "application/json" }).end("{}");
      });
    });
  }

  private record(body: string, headers: Record<string, unknown>, events: TetherEvent[]): Received {
    const signature = headers[SIGNATURE_HEADER.toLowerCase()];
    const contentType = headers["content-type"];
    return {
      at: performance.now(),
      body,
      signature: typeof signature === "string" ? signature : undefined,
      contentType: typeof contentType === "string" ? contentType : undefined,
      events,
    };
  }

  /** Every event the receiver accepted, in arrival order. */
  get accepted(): TetherEvent[] {
    return this.requests.flatMap((request) => request.events);
  }

  async listen(): Promise<string> {
    this.server.listen(0, "127.0.0.1");
    await once(this.server, "listening");
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/internal/events`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Real timers that remember which are still pending. */
export function trackedTimers(): Timers & { readonly live: number } {
  const live = new Set<NodeJS.Timeout>();
  return {
    get live() {
      return live.size;
    },
    setTimeout(callback, delayMs) {
      const timer = setTimeout(() => {
        live.delete(timer);
        callback();
      }, delayMs);
      live.add(timer);
      return timer;
    },
    clearTimeout(timer) {
      if (timer) live.delete(timer);
      clearTimeout(timer);
    },
  };
}

export function event(n: number, deviceId = `router-${n % 7}`): TetherEvent {
  return { type: "event", deviceId, ts: n, name: "tick", data: { n } };
}

/** An event of a fixed size (its JSON is SIZED_EVENT_BYTES long whatever `n`), so byte budgets count events. */
export function sizedEvent(n: number, deviceId = "router-a"): TetherEvent {
  return { type: "event", deviceId, ts: SIZED_TS + n, name: "tick", data: { n: String(n).padStart(6, "0") } };
}
export const SIZED_TS = 1_000_000;
export const SIZED_EVENT_BYTES = JSON.stringify(sizedEvent(0)).length;

export function presence(deviceId: string, ts: number, online: boolean): TetherEvent {
  return { type: "presence", deviceId, ts, online, reason: online ? "connect" : "disconnect" };
}

export function state(deviceId: string, ts: number, body: Record<string, unknown>): TetherEvent {
  return { type: "state", deviceId, ts, state: body };
}

export async function waitFor(condition: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const cleanups: (() => Promise<void>)[] = [];
/** Closes every receiver and forwarder setUp() made (call it in afterEach). */
export async function cleanUp(): Promise<void> {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
}

export async function setUp(options: Partial<ConstructorParameters<typeof EventForwarder>[0]> = {}) {
  const receiver = new EdgeReceiver();
  const url = await receiver.listen();
  const metrics = createBrokerMetrics();
  const timers = trackedTimers();
  const forwarder = new EventForwarder({
    url,
    secret: SECRET,
    now: () => NOW_MS,
    random: () => 0,
    metrics,
    timers,
    ...options,
  });
  cleanups.push(() => receiver.close());
  cleanups.push(() => forwarder.close(100));
  return { receiver, forwarder, metrics, timers };
}

export async function counter(
  metrics: ReturnType<typeof createBrokerMetrics>,
  name: string,
): Promise<number> {
  const metric = await metrics.registry.getSingleMetric(name)?.get();
  return metric?.values.reduce((sum, value) => sum + value.value, 0) ?? Number.NaN;
}
