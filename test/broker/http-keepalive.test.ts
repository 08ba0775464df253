/**
 * The HTTP API's idle keep-alive connections (broker/src/http/keep-alive.ts): kept beyond
 * Node's default 5 s (Cloudflare reuses an idle connection to an origin for up to 900 s, and a
 * request it sends on one the broker is closing is lost), closed after HTTP_KEEPALIVE_SECONDS,
 * and no more than HTTP_MAX_IDLE_CONNECTIONS of them in each of two classes, the edge's (they
 * carried the broker's token) and everyone else's: the one idle longest of its class goes first,
 * a class never pushes the other's out, a new connection is never the one closed, and a
 * connection with a request in flight is never counted.
 */
import { createServer } from "node:http";
import { connect, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { applyKeepAlive, KEEP_ALIVE_DEFAULTS } from "../../broker/src/http/keep-alive.js";
import type { RunningBroker } from "../../broker/src/index.js";
import { API_TOKEN, cleanupAll, connectDevice, deviceId, startTestBroker, waitFor } from "./helpers.js";

afterEach(cleanupAll);

const open: Socket[] = [];
afterEach(() => {
  for (const socket of open.splice(0)) socket.destroy();
});

/** A keep-alive HTTP/1.1 connection to the broker's API, raw, so nothing closes it but the broker. */
async function connection(broker: RunningBroker): Promise<{
  socket: Socket;
  closed: () => boolean;
  send: (request: string) => Promise<string>;
}> {
  const socket = connect(broker.httpPort, "127.0.0.1");
  open.push(socket);
  socket.on("error", () => {});
  let isClosed = false;
  socket.once("close", () => {
    isClosed = true;
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  let buffered = "";
  let waiting: ((text: string) => void) | undefined;
  socket.on("data", (chunk: Buffer) => {
    buffered += chunk.toString("latin1");
    // One whole answer: headers, then a body of Content-Length bytes.
    const end = buffered.indexOf("\r\n\r\n");
    if (end === -1 || !waiting) return;
    const length = Number(/content-length: (\d+)/i.exec(buffered.slice(0, end))?.[1] ?? 0);
    if (buffered.length < end + 4 + length) return;
    const answer = buffered.slice(0, end + 4 + length);
    buffered = buffered.slice(end + 4 + length);
    const resolve = waiting;
    waiting = undefined;
    resolve(answer);
  });
  return {
    socket,
    closed: () => isClosed,
    send: (request) =>
      new Promise((resolve, reject) => {
        waiting = resolve;
        socket.once("close", () => reject(new Error("closed before the answer")));
        socket.write(request);
      }),
  };
}

const HEALTH = "GET /healthz HTTP/1.1\r\nHost: broker\r\nConnection: keep-alive\r\n\r\n";
const status = (answer: string) => Number(answer.slice(9, 12));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("the HTTP API's keep-alive connections", () => {
  it("keep an idle connection by default for longer than Cloudflare reuses one (900 s)", () => {
    expect(KEEP_ALIVE_DEFAULTS.httpKeepAliveSeconds).toBeGreaterThan(900);
    const server = createServer();
    applyKeepAlive(server, { keepAliveSeconds: 905, maxIdleConnections: 10 }, false);
    expect(server.keepAliveTimeout).toBe(905_000);
  });

  it("are still open 5.5 s after an answer (Node's default closes at 5 s), and closed after HTTP_KEEPALIVE_SECONDS", async () => {
    const kept = await startTestBroker();
    const short = await startTestBroker({ httpKeepAliveSeconds: 1 });
    const a = await connection(kept);
    const b = await connection(short);
    expect(status(await a.send(HEALTH))).toBe(200);
    expect(status(await b.send(HEALTH))).toBe(200);
    await waitFor(async () => b.closed() || null, 20_000, "the 1 s keep-alive to close its connection");
    await sleep(5_500);
    expect(a.closed()).toBe(false);
    expect(status(await a.send(HEALTH))).toBe(200);
  }, 30_000);

  it("close the connection idle longest beyond HTTP_MAX_IDLE_CONNECTIONS, never one with a request in flight", async () => {
    const broker = await startTestBroker({ httpMaxIdleConnections: 2 });
    const id = deviceId();
    await connectDevice(broker, id); // never answers: its command waits out its timeout
    const busy = await connection(broker);
    const body = JSON.stringify({ name: "ping", timeoutMs: 1500 });
    const waiting = busy.send(
      `POST /v1/devices/${id}/commands HTTP/1.1\r\nHost: broker\r\nAuthorization: Bearer ${API_TOKEN}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    const first = await connection(broker);
    expect(status(await first.send(HEALTH))).toBe(200);
    const second = await connection(broker);
    expect(status(await second.send(HEALTH))).toBe(200);
    // Two idle (first, second) and one busy: within the bound.
    const third = await connection(broker);
    // A third idle one: the first, idle longest, goes.
    expect(status(await third.send(HEALTH))).toBe(200);
    await waitFor(async () => first.closed() || null, 10_000, "the connection idle longest to close");
    expect(status(await second.send(HEALTH))).toBe(200);
    expect(status(await third.send(HEALTH))).toBe(200);
    // The busy one was never idle: it gets its answer (the device never answered: 504).
    expect(status(await waiting)).toBe(504);
    expect(busy.closed()).toBe(false);
  }, 30_000);

  it("close strangers' idle connections before the edge's: a caller without the token cannot push the edge's out", async () => {
    const broker = await startTestBroker({ httpMaxIdleConnections: 2 });
    // The edge: its requests carry the broker's token; then it idles, as a pooled connection.
    const edge = await connection(broker);
    const health = HEALTH.replace("\r\n\r\n", `\r\nAuthorization: Bearer ${API_TOKEN}\r\n\r\n`);
    expect(status(await edge.send(health))).toBe(200);
    // A stranger opens six connections after it: two with an answered request, four silent.
    const strangers: Awaited<ReturnType<typeof connection>>[] = [];
    for (let i = 0; i < 6; i++) {
      const stranger = await connection(broker);
      strangers.push(stranger);
      if (i < 2) expect(status(await stranger.send(HEALTH))).toBe(200);
    }
    // Two strangers' idle at most (the newest two), the edge's counted apart.
    await waitFor(
      async () => strangers.filter((stranger) => stranger.closed()).length === 4 || null,
      10_000,
      "the strangers' connections beyond the bound to close",
    );
    expect(strangers.slice(4).map((stranger) => stranger.closed())).toEqual([false, false]);
    // The edge's connection, idle longest of all, is still there and still answers.
    expect(edge.closed()).toBe(false);
    expect(status(await edge.send(health))).toBe(200);
  }, 30_000);

  it("serve a new connection while the edge holds HTTP_MAX_IDLE_CONNECTIONS idle ones (it is not closed as it arrives)", async () => {
    const broker = await startTestBroker({ httpMaxIdleConnections: 2 });
    const health = HEALTH.replace("\r\n\r\n", `\r\nAuthorization: Bearer ${API_TOKEN}\r\n\r\n`);
    const pooled = [await connection(broker), await connection(broker)];
    for (const edge of pooled) expect(status(await edge.send(health))).toBe(200);
    // The edge's pool is at the bound; a new connection (the edge's next, a scraper's) is
    // accepted, answered, and leaves the pooled ones alone.
    const newcomer = await connection(broker);
    await sleep(200);
    expect(newcomer.closed()).toBe(false);
    expect(status(await newcomer.send(health))).toBe(200);
    expect(pooled.map((edge) => edge.closed())).toEqual([false, false]);
    // Now the edge's third idle connection: the edge's own oldest goes.
    await waitFor(
      async () => pooled[0]?.closed() || null,
      10_000,
      "the edge's connection idle longest to close",
    );
    expect(pooled[1]?.closed()).toBe(false);
  }, 30_000);
});
