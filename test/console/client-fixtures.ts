import { createServer } from "node:net";
import { afterEach } from "vitest";
import { WebSocket } from "ws";
import {
  type StatusChange,
  TetherClient,
  type TetherClientError,
  type TetherClientOptions,
  type TetherEvent,
} from "../../edge/public/tether-client.js";
import { type EdgeStub, type EdgeStubOptions, startEdgeStub } from "./edge-stub.js";

/** Shared by the TetherClient test files: a stub edge, a recording client, cleanup after each test. */
export const DEVICE = "router-1";
export const TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2ln";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

export async function edge(options: Partial<EdgeStubOptions> = {}): Promise<EdgeStub> {
  const stub = await startEdgeStub({ deviceId: DEVICE, tokens: [TOKEN], ...options });
  cleanups.push(() => stub.close());
  return stub;
}

/** A client wired to record everything it emits; closed after the test. */
export function client(baseUrl: string, options: Partial<TetherClientOptions> = {}) {
  const c = new TetherClient({ baseUrl, deviceId: DEVICE, token: TOKEN, WebSocket, ...options });
  const seen = {
    statuses: [] as StatusChange[],
    events: [] as TetherEvent[],
    errors: [] as TetherClientError[],
    snapshots: 0,
  };
  c.on("status", (s) => seen.statuses.push(s));
  c.on("event", (e) => seen.events.push(e));
  c.on("error", (e) => seen.errors.push(e));
  c.on("snapshot", () => {
    seen.snapshots += 1;
  });
  cleanups.push(() => c.close());
  return { c, seen, states: () => seen.statuses.map((s) => s.state) };
}

export function send(stub: EdgeStub, frame: unknown, index = -1): void {
  const conn = stub.sockets.at(index);
  if (!conn) throw new Error("no socket");
  conn.socket.send(typeof frame === "string" ? frame : JSON.stringify(frame));
}

/** A port nothing listens on: bind one, then free it. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}
