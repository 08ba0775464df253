import { describe, expect, it } from "vitest";
import { client, DEVICE, edge, send, TOKEN } from "./client-fixtures.js";
import { settle, until } from "./edge-stub.js";

describe("connecting", () => {
  it("offers the token as the second subprotocol after `tether` and never puts it in the URL", async () => {
    const stub = await edge();
    const { c, seen, states } = client(stub.baseUrl);
    const snapshots: unknown[] = [];
    c.on("snapshot", (s) => snapshots.push(s.device));
    c.connect();
    await until(() => seen.snapshots === 1, "the snapshot");

    expect(stub.sockets[0]?.offered).toEqual(["tether", TOKEN]);
    expect(stub.sockets[0]?.url).toBe(`/v1/devices/${DEVICE}/ws`);
    expect(c.url).not.toContain(TOKEN);
    expect(states()).toEqual(["connecting", "open"]);
    expect(snapshots).toEqual([
      { id: DEVICE, online: true, since: 1_000, lastSeen: 2_000, state: { fw: "1.0" } },
    ]);
  });

  it("delivers state, event, presence and command_result frames as `event`, in order", async () => {
    const stub = await edge();
    const { c, seen } = client(stub.baseUrl);
    c.connect();
    await until(() => seen.snapshots === 1, "the snapshot");
    const frames = [
      { type: "state", deviceId: DEVICE, ts: 10, state: { wifi: "on" } },
      { type: "event", deviceId: DEVICE, ts: 11, name: "wan.down", data: { for: 3 } },
      { type: "presence", deviceId: DEVICE, ts: 12, online: false, reason: "keepalive_timeout" },
      { type: "command_result", deviceId: DEVICE, ts: 13, id: "queued-1", ok: true, result: 42 },
    ];
    for (const frame of frames) send(stub, frame);
    await until(() => seen.events.length === 4, "four events");

    expect(seen.events).toEqual(frames);
    expect(seen.errors).toEqual([]);
  });
});

describe("sendCommand", () => {
  it("resolves with the command_result of its own id and ignores results for other ids", async () => {
    const stub = await edge({
      onFrame: (conn, text) => {
        if (text === "ping") return;
        const command = JSON.parse(text);
        conn.socket.send(
          JSON.stringify({ type: "command_result", id: "someone-else", ok: true, result: "no" }),
        );
        conn.socket.send(
          JSON.stringify({ type: "command_result", id: command.id, ok: true, result: { up: 7 } }),
        );
      },
    });
    const { c, seen } = client(stub.baseUrl, { randomUUID: () => "cmd-1" });
    c.connect();
    await until(() => c.state === "open", "open");

    const result = await c.sendCommand("uptime", { unit: "s" }, { timeoutMs: 5_000 });

    expect(result).toEqual({ type: "command_result", id: "cmd-1", ok: true, result: { up: 7 } });
    expect(JSON.parse(stub.sockets[0]?.received[0] ?? "")).toEqual({
      type: "command",
      id: "cmd-1",
      name: "uptime",
      params: { unit: "s" },
      timeoutMs: 5_000,
    });
    expect(seen.events.map((e) => (e.type === "command_result" ? e.id : e.type))).toEqual([
      "someone-else",
      "cmd-1",
    ]);
    expect(c.pendingCount).toBe(0);
  });

  it("resolves with ok:false when the command ran and failed", async () => {
    const stub = await edge({
      onFrame: (conn, text) => {
        const { id } = JSON.parse(text);
        const error = { code: "handler_error", message: "disk full" };
        conn.socket.send(JSON.stringify({ type: "command_result", id, ok: false, error }));
      },
    });
    const { c } = client(stub.baseUrl);
    c.connect();
    await until(() => c.state === "open", "open");

    const result = await c.sendCommand("backup");

    expect(result.ok).toBe(false);
    expect(result.error).toEqual({ code: "handler_error", message: "disk full" });
  });

  it("rejects with timeout when no result comes, and forgets the command", async () => {
    const stub = await edge();
    const { c } = client(stub.baseUrl, { commandGraceMs: 0 });
    c.connect();
    await until(() => c.state === "open", "open");

    const started = Date.now();
    await expect(c.sendCommand("reboot", undefined, { timeoutMs: 100 })).rejects.toMatchObject({
      code: "timeout",
    });

    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    expect(c.pendingCount).toBe(0);
  });

  it("rejects with the edge's code when an error frame names the command", async () => {
    const stub = await edge({
      onFrame: (conn, text) => {
        const { id } = JSON.parse(text);
        conn.socket.send(
          JSON.stringify({ type: "error", id, error: { code: "device_offline", message: "gone" } }),
        );
      },
    });
    const { c, seen } = client(stub.baseUrl);
    c.connect();
    await until(() => c.state === "open", "open");

    await expect(c.sendCommand("reboot")).rejects.toMatchObject({ code: "device_offline", source: "server" });
    expect(seen.errors).toEqual([]);
  });

  it("refuses a bad name, a bad timeout, a closed connection and more than maxPending commands", async () => {
    const stub = await edge();
    const { c } = client(stub.baseUrl, { maxPending: 2 });
    await expect(c.sendCommand("reboot")).rejects.toMatchObject({ code: "not_connected" });
    c.connect();
    await until(() => c.state === "open", "open");

    await expect(c.sendCommand("bad name")).rejects.toMatchObject({ code: "invalid_request" });
    await expect(c.sendCommand("ok", {}, { timeoutMs: 99 })).rejects.toMatchObject({
      code: "invalid_request",
    });
    await expect(c.sendCommand("ok", { n: 1n })).rejects.toMatchObject({ code: "invalid_request" });
    const first = c.sendCommand("a");
    const second = c.sendCommand("b");
    await expect(c.sendCommand("c")).rejects.toMatchObject({ code: "rate_limited" });
    expect(c.pendingCount).toBe(2);

    c.close();
    await expect(first).rejects.toMatchObject({ code: "connection_closed" });
    await expect(second).rejects.toMatchObject({ code: "connection_closed" });
    expect(c.pendingCount).toBe(0);
  });
});

describe("closing", () => {
  it("close() ends the socket for good: the edge sees it close and no reconnect follows", async () => {
    const stub = await edge();
    const { c, states } = client(stub.baseUrl, { random: () => 0 });
    c.connect();
    await until(() => c.state === "open", "open");
    let closedCode = 0;
    stub.sockets[0]?.socket.on("close", (code) => {
      closedCode = code;
    });

    c.close();

    await until(() => closedCode !== 0, "the edge to see the close");
    await settle(50);
    expect(closedCode).toBe(1000);
    expect(stub.sockets).toHaveLength(1);
    expect(states().at(-1)).toBe("closed");
  });
});

describe("untrusted frames", () => {
  it("surface as invalid_frame errors and the stream carries on", async () => {
    const stub = await edge();
    const { c, seen } = client(stub.baseUrl);
    c.connect();
    await until(() => seen.snapshots === 1, "the snapshot");
    const bad: unknown[] = [
      "not json",
      "[1,2]",
      { type: "state", deviceId: DEVICE, ts: "yesterday", state: {} },
      { type: "state", deviceId: "router-2", ts: 1, state: {} },
      { type: "event", deviceId: DEVICE, ts: 1, name: "has/slash", data: null },
      { type: "presence", deviceId: DEVICE, ts: 1, online: "yes", reason: "connect" },
      { type: "command_result", id: "x", ok: false },
      {
        type: "snapshot",
        device: { id: "router-2", online: true, since: null, lastSeen: null, state: null },
      },
      { type: "launch_missiles" },
    ];
    for (const frame of bad) send(stub, frame);
    stub.sockets[0]?.socket.send(Buffer.from([1, 2, 3]), { binary: true });
    send(stub, { type: "event", deviceId: DEVICE, ts: 5, name: "still.alive", data: 1 });
    await until(() => seen.events.length === 1, "the good event");

    expect(seen.errors.map((e) => e.code)).toEqual(Array(bad.length + 1).fill("invalid_frame"));
    expect(seen.events[0]).toMatchObject({ name: "still.alive" });
    expect(seen.snapshots).toBe(1);
    expect(c.state).toBe("open");
  });

  it("reports a throwing listener as listener_error without losing the next frames", async () => {
    const stub = await edge();
    const { c, seen } = client(stub.baseUrl);
    c.on("event", (e) => {
      if (e.type === "event" && e.name === "boom") throw new Error("app bug");
    });
    c.connect();
    await until(() => seen.snapshots === 1, "the snapshot");
    send(stub, { type: "event", deviceId: DEVICE, ts: 1, name: "boom", data: null });
    send(stub, { type: "event", deviceId: DEVICE, ts: 2, name: "after", data: null });
    await until(() => seen.events.length === 2, "both events");

    expect(seen.errors.map((e) => e.code)).toEqual(["listener_error"]);
    expect(c.state).toBe("open");
  });
});
