import { connect, type Socket } from "node:net";
import { Writable } from "node:stream";
import pino, { type Logger } from "pino";
import type { RunningBroker } from "../../broker/src/index.js";
import { onCleanup } from "../broker/helpers.js";

/** A prom-client metric as the tests read it. */
interface ReadableMetric {
  get(): Promise<{ values: Array<{ labels: Record<string, string | number | undefined>; value: number }> }>;
}

/** `tether_refusals_total` by reason. */
export async function refusals(broker: RunningBroker): Promise<Record<string, number>> {
  return labelled(broker.metrics.refusals, "reason");
}

/** A counter's values keyed by one label. */
export async function labelled(metric: ReadableMetric, label: string): Promise<Record<string, number>> {
  const { values } = await metric.get();
  return Object.fromEntries(values.map((v) => [String(v.labels[label]), v.value]));
}

/** The value of an unlabelled gauge of the broker's registry (e.g. `tether_sockets`). */
export async function gauge(broker: RunningBroker, name: string): Promise<number> {
  const metric = broker.metrics.registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  return (await metric.get()).values[0]?.value ?? Number.NaN;
}

/** A pino logger whose JSON lines the test can read (level info and up, unless told). */
export function capturedLogger(level = "info"): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString("utf8").split("\n")) if (line) lines.push(line);
      callback();
    },
  });
  return { logger: pino({ level }, sink), lines };
}

/** The parsed log lines whose `msg` is `msg`. */
export function linesWith(lines: string[], msg: string): Array<Record<string, unknown>> {
  return lines
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((entry) => entry.msg === msg);
}

/**
 * A raw TCP socket to the broker's MQTT port from `localAddress` (any 127.x.y.z
 * works on Linux: the whole 127/8 is on the loopback interface), so one test
 * can play several source addresses. Destroyed by cleanupAll().
 */
export function socketFrom(broker: RunningBroker, localAddress = "127.0.0.1"): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port: broker.mqttPort, host: "127.0.0.1", localAddress });
    socket.once("connect", () => {
      socket.off("error", reject);
      socket.on("error", () => {});
      socket.resume();
      resolve(socket);
    });
    socket.once("error", reject);
    onCleanup(() => socket.destroy());
  });
}

/** Resolves true if the socket closes within `ms`, false if it is still open then. */
export function closesWithin(socket: Socket, ms: number): Promise<boolean> {
  if (socket.destroyed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.off("close", onClose);
      resolve(false);
    }, ms);
    const onClose = () => {
      clearTimeout(timer);
      resolve(true);
    };
    socket.once("close", onClose);
  });
}

/** The p-th percentile (0..100) of `samples`. */
export function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] ?? Number.NaN;
}
