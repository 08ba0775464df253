/**
 * Messages between bench/broker.ts and a broker it runs in a child process
 * (bench/lib/broker-process.ts). Debug-only: the broker itself knows nothing of this.
 */

export type BrokerKind = "aedes" | "tether";

/** Fixed bench secrets: the bench derives the same passwords the broker checks. */
export const BENCH_DEVICE_SECRET = "bench-device-secret-0123456789";
export const BENCH_API_TOKEN = "bench-api-token-0123456789";

export type Request =
  | { id: number; op: "measure" }
  | { id: number; op: "close" }
  /** Writes a V8 heap snapshot (after GC) to `path`. */
  | { id: number; op: "snapshot"; path: string };

export interface Measurement {
  /** process.memoryUsage() after forced GC. */
  rssBytes: number;
  heapUsedBytes: number;
  externalBytes: number;
  arrayBuffersBytes: number;
  /** Live-object counts: `clients` for both; Tether adds its stats(). */
  counts: Record<string, number>;
}

export type Reply =
  | { type: "ready"; mqttPort: number }
  | { type: "measured"; id: number; measurement: Measurement }
  | { type: "closed"; id: number }
  | { type: "snapshot"; id: number; path: string }
  | { type: "failed"; id?: number; message: string };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isNumberRecord(value: unknown): value is Record<string, number> {
  return isRecord(value) && Object.values(value).every((v) => typeof v === "number");
}

export function isRequest(value: unknown): value is Request {
  if (!isRecord(value) || typeof value.id !== "number") return false;
  return (
    value.op === "measure" ||
    value.op === "close" ||
    (value.op === "snapshot" && typeof value.path === "string")
  );
}

export function isReply(value: unknown): value is Reply {
  if (!isRecord(value)) return false;
  switch (value.type) {
    case "ready":
      return typeof value.mqttPort === "number";
    case "measured": {
      const m = value.measurement;
      return (
        typeof value.id === "number" &&
        isRecord(m) &&
        typeof m.rssBytes === "number" &&
        typeof m.heapUsedBytes === "number" &&
        typeof m.externalBytes === "number" &&
        typeof m.arrayBuffersBytes === "number" &&
        isNumberRecord(m.counts)
      );
    }
    case "closed":
      return typeof value.id === "number";
    case "snapshot":
      return typeof value.id === "number" && typeof value.path === "string";
    case "failed":
      return typeof value.message === "string";
    default:
      return false;
  }
}
