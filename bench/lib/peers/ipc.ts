/** Messages between bench/run.ts and a Node broker in a child (peer-process.ts). */
export type PeerRequest = { id: number; op: "measure" | "close" };

export type PeerReply =
  | { type: "ready"; mqttPort: number; httpPort: number | null }
  | { type: "measured"; id: number; heapUsed: number; counts: Record<string, number> }
  | { type: "closed"; id: number }
  | { type: "failed"; id?: number; message: string };

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;

export function isPeerRequest(value: unknown): value is PeerRequest {
  return isRecord(value) && typeof value.id === "number" && (value.op === "measure" || value.op === "close");
}

export function isPeerReply(value: unknown): value is PeerReply {
  if (!isRecord(value)) return false;
  switch (value.type) {
    case "ready":
      return (
        typeof value.mqttPort === "number" && (value.httpPort === null || typeof value.httpPort === "number")
      );
    case "measured":
      return (
        typeof value.id === "number" &&
        typeof value.heapUsed === "number" &&
        isRecord(value.counts) &&
        Object.values(value.counts).every((n) => typeof n === "number")
      );
    case "closed":
      return typeof value.id === "number";
    case "failed":
      return typeof value.message === "string";
    default:
      return false;
  }
}
