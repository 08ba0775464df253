import type { IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { type WebSocket, WebSocketServer } from "ws";

/**
 * A stand-in for the edge's `GET /v1/devices/{id}/ws` on a real `ws` server:
 * it checks the token in the second subprotocol (401 before the upgrade when
 * wrong, 403 for another device), selects `tether`, sends the snapshot first,
 * answers `ping` with `pong`, and records what each socket received.
 */
export interface StubSocket {
  socket: WebSocket;
  /** Request path and query as the client sent them. */
  url: string;
  /** Subprotocols the client offered, in order. */
  offered: string[];
  /** Text frames received from the client, in order. */
  received: string[];
}

export interface EdgeStubOptions {
  deviceId: string;
  /** Tokens the stub accepts. */
  tokens: string[];
  /** Answer `ping` with `pong` (default true). */
  answerPing?: boolean;
  /** Called for each text frame after it is recorded. */
  onFrame?: (conn: StubSocket, text: string) => void;
}

export interface EdgeStub {
  baseUrl: string;
  sockets: StubSocket[];
  /** Upgrade requests seen, accepted or not. */
  upgradeRequests: number;
  answerPing: boolean;
  snapshotFrame(online?: boolean): string;
  close(): Promise<void>;
}

function offeredProtocols(req: IncomingMessage): string[] {
  const header = req.headers["sec-websocket-protocol"];
  return typeof header === "string" ? header.split(",").map((p) => p.trim()) : [];
}

export async function startEdgeStub(options: EdgeStubOptions): Promise<EdgeStub> {
  const path = `/v1/devices/${options.deviceId}/ws`;
  const sockets: StubSocket[] = [];
  const snapshotFrame = (online = true): string =>
    JSON.stringify({
      type: "snapshot",
      device: { id: options.deviceId, online, since: 1_000, lastSeen: 2_000, state: { fw: "1.0" } },
      recent: [{ type: "event", deviceId: options.deviceId, ts: 1_500, name: "boot", data: null }],
    });
  const server = new WebSocketServer({
    port: 0,
    host: "127.0.0.1",
    handleProtocols: (protocols) => (protocols.has("tether") ? "tether" : false),
    verifyClient: (info, done) => {
      stub.upgradeRequests += 1;
      const [first, token] = offeredProtocols(info.req);
      const requestPath = info.req.url?.split("?")[0] ?? "";
      if (first !== "tether" || token === undefined || !options.tokens.includes(token))
        return done(false, 401);
      if (requestPath !== path) return done(false, 403);
      done(true);
    },
  });
  await new Promise<void>((resolve) => server.once("listening", () => resolve()));
  server.on("connection", (socket, req) => {
    const conn: StubSocket = { socket, url: req.url ?? "", offered: offeredProtocols(req), received: [] };
    sockets.push(conn);
    socket.send(snapshotFrame());
    socket.on("message", (data, isBinary) => {
      if (isBinary) return;
      const text = data.toString();
      conn.received.push(text);
      if (text === "ping" && stub.answerPing) socket.send("pong");
      options.onFrame?.(conn, text);
    });
  });
  const { port } = server.address() as AddressInfo;
  const stub: EdgeStub = {
    baseUrl: `http://127.0.0.1:${port}`,
    sockets,
    upgradeRequests: 0,
    answerPing: options.answerPing ?? true,
    snapshotFrame,
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of server.clients) client.terminate();
        server.close(() => resolve());
      }),
  };
  return stub;
}

/** Polls `condition` every 5 ms; fails with `what` after `timeoutMs`. */
export async function until(condition: () => boolean, what: string, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Resolves after `ms`: only for asserting that something does NOT happen. */
export function settle(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
