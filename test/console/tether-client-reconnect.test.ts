import { describe, expect, it } from "vitest";
import { client, closedPort, edge } from "./client-fixtures.js";
import { settle, until } from "./edge-stub.js";

describe("reconnecting", () => {
  it("reconnects after the edge drops the socket, asking the token function again", async () => {
    const stub = await edge({ tokens: ["t1.a.b", "t2.a.b"] });
    let calls = 0;
    const token = async () => {
      calls += 1;
      return `t${calls}.a.b`;
    };
    const { c, seen, states } = client(stub.baseUrl, { token, random: () => 0 });
    c.connect();
    await until(() => seen.snapshots === 1, "the first snapshot");
    const pending = c.sendCommand("slow");

    stub.sockets[0]?.socket.terminate();

    await expect(pending).rejects.toMatchObject({ code: "connection_closed" });
    await until(() => seen.snapshots === 2, "a second snapshot");
    expect(states()).toEqual(["connecting", "open", "reconnecting", "connecting", "open"]);
    expect(seen.statuses[2]).toMatchObject({ attempt: 1, delayMs: 0, code: 1006 });
    expect(stub.sockets.map((s) => s.offered[1])).toEqual(["t1.a.b", "t2.a.b"]);
  });

  it("backs off exponentially with full jitter up to the cap, then stops as auth_or_unreachable", async () => {
    const port = await closedPort();
    const { c, seen } = client(`http://127.0.0.1:${port}`, {
      random: () => 0.5,
      baseDelayMs: 100,
      maxDelayMs: 1_000,
      maxFailedOpens: 7,
      setTimeout: (callback, ms) => setTimeout(callback, Math.min(ms, 5)),
    });
    c.connect();
    await until(() => c.state === "auth_or_unreachable", "auth_or_unreachable");

    const delays = seen.statuses.filter((s) => s.state === "reconnecting").map((s) => s.delayMs);
    expect(delays).toEqual([50, 100, 200, 400, 500, 500]);
    await settle(50);
    expect(seen.statuses.at(-1)?.state).toBe("auth_or_unreachable");
  });

  it("starts the backoff again from the base once a connection stayed up for stableMs", async () => {
    const stub = await edge();
    const { c, seen } = client(stub.baseUrl, { random: () => 0.99, baseDelayMs: 20, stableMs: 100 });
    c.connect();
    const dropAfterOpen = async (n: number) => {
      await until(() => stub.sockets.length === n && c.state === "open", `connection ${n}`);
      stub.sockets[n - 1]?.socket.terminate();
      await until(() => c.state === "reconnecting", `reconnecting after ${n}`);
    };
    await dropAfterOpen(1);
    await dropAfterOpen(2);
    await until(() => stub.sockets.length === 3 && c.state === "open", "connection 3");
    await settle(150);
    stub.sockets[2]?.socket.terminate();
    await until(() => seen.statuses.filter((s) => s.state === "reconnecting").length === 3, "third drop");

    const delays = seen.statuses.filter((s) => s.state === "reconnecting").map((s) => s.delayMs);
    expect(delays).toEqual([19, 39, 19]);
  });

  it("stops at once as unauthorized when the edge refuses the token with 401", async () => {
    const stub = await edge();
    const { c, seen, states } = client(stub.baseUrl, { token: "wrong.token.x", random: () => 0 });
    c.connect();
    await until(() => c.state === "unauthorized", "unauthorized");
    await settle(50);

    expect(states()).toEqual(["connecting", "unauthorized"]);
    expect(seen.statuses[1]?.reason).toContain("401");
    expect(stub.upgradeRequests).toBe(1);
  });

  it("stops as unauthorized when the edge closes with 4403 after the upgrade", async () => {
    const stub = await edge();
    const { c } = client(stub.baseUrl, { random: () => 0 });
    c.connect();
    await until(() => c.state === "open", "open");

    stub.sockets[0]?.socket.close(4403, "device not in token");

    await until(() => c.state === "unauthorized", "unauthorized");
    await settle(50);
    expect(stub.sockets).toHaveLength(1);
  });

  it("pings on its interval and stays up while pongs come back", async () => {
    const stub = await edge();
    const { c, seen } = client(stub.baseUrl, { pingIntervalMs: 20, pongTimeoutMs: 40 });
    c.connect();
    await until(() => (stub.sockets[0]?.received.filter((t) => t === "ping").length ?? 0) >= 4, "four pings");

    expect(stub.sockets).toHaveLength(1);
    expect(seen.errors).toEqual([]);
  });

  it("drops a socket whose pong never comes and reconnects", async () => {
    const stub = await edge({ answerPing: false });
    const { c, seen } = client(stub.baseUrl, { pingIntervalMs: 20, pongTimeoutMs: 40, random: () => 0 });
    c.connect();
    await until(() => stub.sockets.length === 2, "a second connection");

    expect(stub.sockets[0]?.received).toContain("ping");
    expect(seen.errors[0]?.code).toBe("timeout");
    expect(seen.statuses.find((s) => s.state === "reconnecting")).toMatchObject({ code: 4000 });
  });
});

describe("timers", () => {
  it("leaves no timer behind once commands are answered and the client is closed", async () => {
    const stub = await edge({
      onFrame: (conn, text) => {
        if (text === "ping") return;
        const { id } = JSON.parse(text);
        conn.socket.send(JSON.stringify({ type: "command_result", id, ok: true, result: null }));
      },
    });
    const live = new Set<NodeJS.Timeout>();
    const { c } = client(stub.baseUrl, {
      setTimeout: (callback, ms) => {
        const handle = setTimeout(() => {
          live.delete(handle);
          callback();
        }, ms);
        live.add(handle);
        return handle;
      },
      clearTimeout: (handle: NodeJS.Timeout) => {
        live.delete(handle);
        clearTimeout(handle);
      },
    });
    c.connect();
    await until(() => c.state === "open", "open");
    await c.sendCommand("one");
    await c.sendCommand("two");
    expect(live.size).toBe(2); // the heartbeat and the stable-connection timer

    c.close();

    expect(live.size).toBe(0);
  });
});
