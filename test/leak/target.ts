import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { createServer, type Server } from "node:http";
import type { Socket } from "node:net";
import pino from "pino";
import { type Clock, type RunningBroker, startBroker } from "../../broker/src/index.js";

export const DEVICE_SECRET = "leak-test-device-secret-0123456789";
export const API_TOKEN = "leak-test-broker-api-token-0123456789";
const EVENTS_SECRET = "leak-test-events-secret-0123456789";
export const SESSION_EXPIRY_SECONDS = 60;

/**
 * Real timers, but `now()` can be moved forward: sessions expire without
 * waiting while command timeouts and keepalive still run in real time.
 */
export class SkewClock implements Clock {
  #skewMs = 0;
  now = () => Date.now() + this.#skewMs;
  setTimeout = (fn: () => void, ms: number) => setTimeout(fn, ms);
  clearTimeout = (handle: unknown) => clearTimeout(handle as NodeJS.Timeout);
  setInterval = (fn: () => void, ms: number) => setInterval(fn, ms).unref();
  clearInterval = (handle: unknown) => clearInterval(handle as NodeJS.Timeout);
  advance(ms: number): void {
    this.#skewMs += ms;
  }
}

/** What the churn harness drives: a broker, its clock, and what to stop afterwards. */
export interface ChurnTarget {
  broker: RunningBroker;
  clock: SkewClock;
  close(): Promise<void>;
}

/** A stand-in for the edge's /internal/events: answers 200 to every batch, so the forwarder runs and drains. */
async function startEventsReceiver(): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((request, response) => {
    request.resume();
    request.on("end", () => response.writeHead(200, { "content-type": "application/json" }).end("{}"));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/internal/events`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Tether's broker on ephemeral ports, forwarding events to a local receiver, with a skewable clock. */
export async function startTetherTarget(): Promise<ChurnTarget> {
  const clock = new SkewClock();
  const receiver = await startEventsReceiver();
  const broker = await startBroker({
    deviceSecret: DEVICE_SECRET,
    brokerApiToken: API_TOKEN,
    mqttPort: 0,
    httpPort: 0,
    host: "127.0.0.1",
    logger: pino({ level: process.env.LOG_LEVEL ?? "silent" }),
    memoryLogIntervalSeconds: 0,
    sessionExpirySeconds: SESSION_EXPIRY_SECONDS,
    // Sockets that never send CONNECT are closed by it. Not shorter: a CPU-starved event
    // loop (a loaded 2-core machine) can take half a second to read a real router's CONNECT,
    // and cutting that router off failed the run with ECONNRESET.
    connectTimeoutMs: 2_000,
    edgeEventsUrl: receiver.url,
    edgeEventsSecret: EVENTS_SECRET,
    // Lag shedding off (issue 17): this broker shares its event loop and the suite's two cores
    // with the test's own load; test/broker/overload.test.ts tests the shedding.
    maxEventLoopLagMs: 0,
    commandLatencyTolerance: 0,
    clock,
  });
  return {
    broker,
    clock,
    async close() {
      await broker.close();
      await receiver.close();
    },
  };
}

/**
 * The deliberately leaking variant: the old system's bug in miniature. Every
 * socket the broker accepts is kept in an array (via Node's `net.server.socket`
 * diagnostics channel) and with it the Aedes client and everything the
 * connection owned — while the broker's own counts still return to zero.
 */
export async function startLeakingTarget(): Promise<ChurnTarget & { kept: () => number }> {
  // Bound: none — that is the point. Emptied by close().
  const kept: Socket[] = [];
  const keep = (message: unknown) => {
    if (typeof message === "object" && message !== null && "socket" in message)
      kept.push(message.socket as Socket);
  };
  subscribe("net.server.socket", keep);
  const inner = await startTetherTarget();
  return {
    ...inner,
    kept: () => kept.length,
    async close() {
      unsubscribe("net.server.socket", keep);
      kept.length = 0;
      await inner.close();
    },
  };
}
