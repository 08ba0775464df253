import { env, evictDurableObject, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  ClientSocket,
  clientToken,
  freshDeviceId,
  mockBroker,
  NO_DESIRED,
  postEvents,
  railsRequest,
} from "./helpers.js";

const open: ClientSocket[] = [];
afterEach(() => {
  vi.restoreAllMocks();
  for (const socket of open.splice(0)) socket.close();
});

/** A socket whose token may watch and command the device (`cmd: true`), as `sub`. */
async function connect(deviceId: string, kind: "mobile" | "web" = "web", sub = "user-1") {
  const token = await clientToken({ devices: [deviceId], kind, sub, cmd: true });
  const socket = await ClientSocket.open(deviceId, token);
  open.push(socket);
  await socket.waitForFrames(1);
  return socket;
}

describe("a device's live channel", () => {
  it("sends presence, state and the recent events in the snapshot on connect", async () => {
    const id = freshDeviceId();
    const events = [
      { deviceId: id, type: "presence", online: true, reason: "connect", ts: 1 },
      { deviceId: id, type: "state", state: { fw: "1.2" }, ts: 2 },
      { deviceId: id, type: "event", name: "boot", data: null, ts: 3 },
    ];
    await postEvents({ events });
    const socket = await connect(id);
    expect(socket.frames[0]).toEqual({
      type: "snapshot",
      device: { id, online: true, since: 1, lastSeen: 3, state: { fw: "1.2" }, ...NO_DESIRED },
      recent: events,
    });
  });

  it("keeps only the last 50 events in the snapshot's ring", async () => {
    const id = freshDeviceId();
    const events = Array.from({ length: 60 }, (_, i) => ({
      deviceId: id,
      type: "event",
      name: "tick",
      data: i,
      ts: i,
    }));
    await postEvents({ events });
    const socket = await connect(id);
    const snapshot = socket.frames[0] as { recent: Array<{ data: number }> };
    expect(snapshot.recent.map((event) => event.data)).toEqual(events.slice(10).map((event) => event.data));
  });

  it("answers a command frame to that socket only, with the frame's id", async () => {
    const id = freshDeviceId();
    const { calls } = mockBroker(() =>
      Response.json({ id: "broker-1", ok: true, result: { rebooting: true } }),
    );
    const asker = await connect(id, "mobile");
    const watcher = await connect(id, "web");
    asker.send({ type: "command", id: "c-42", name: "reboot", params: { delay: 1 }, timeoutMs: 3000 });
    const [, result] = await asker.waitForFrames(2);
    expect(result).toEqual({
      type: "command_result",
      id: "c-42",
      deviceId: id,
      ts: expect.any(Number),
      ok: true,
      result: { rebooting: true },
    });
    expect(calls).toEqual([
      {
        url: `${env.BROKER_URL}/v1/devices/${id}/commands`,
        method: "POST",
        authorization: `Bearer ${env.BROKER_API_TOKEN}`,
        body: { name: "reboot", params: { delay: 1 }, timeoutMs: 3000 },
      },
    ]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(watcher.frames).toHaveLength(1);
  });

  it("turns the broker's refusals into a failed command_result (offline, timeout, unreachable)", async () => {
    const id = freshDeviceId();
    const answers: Array<() => Response> = [
      () => Response.json({ error: { code: "device_offline", message: "offline" } }, { status: 409 }),
      () => Response.json({ id: "b", error: { code: "timeout", message: "no answer" } }, { status: 504 }),
      () => Response.json({ id: "b", ok: false, error: { code: "handler_error", message: "boom" } }),
      () => {
        throw new TypeError("connection refused");
      },
    ];
    mockBroker(() => (answers.shift() ?? (() => new Response("?", { status: 500 })))());
    const socket = await connect(id);
    const codes = ["device_offline", "timeout", "handler_error", "broker_unavailable"];
    for (const [index, code] of codes.entries()) {
      socket.send({ type: "command", id: `c${index}`, name: "reboot" });
      const frame = (await socket.waitForFrames(index + 2))[index + 1];
      expect(frame).toMatchObject({ type: "command_result", id: `c${index}`, ok: false, error: { code } });
    }
  });

  it("gives a command frame without an id a generated one", async () => {
    mockBroker(() => Response.json({ id: "b", ok: true, result: 1 }));
    const socket = await connect(freshDeviceId());
    socket.send({ type: "command", name: "ping" });
    const [, frame] = await socket.waitForFrames(2);
    expect(frame).toMatchObject({ type: "command_result", id: expect.stringMatching(/.+/), ok: true });
  });

  it("answers an invalid frame with invalid_frame and keeps the socket open", async () => {
    const { calls } = mockBroker(() => Response.json({}));
    const socket = await connect(freshDeviceId());
    socket.send("not json");
    socket.send({ type: "command", id: "x1", name: "bad name!" });
    socket.send({ type: "subscribe" });
    const frames = (await socket.waitForFrames(4)).slice(1);
    expect(frames).toEqual([
      { type: "error", error: { code: "invalid_frame", message: expect.any(String) } },
      { type: "error", id: "x1", error: { code: "invalid_frame", message: expect.stringMatching(/^name/) } },
      { type: "error", error: { code: "invalid_frame", message: expect.any(String) } },
    ]);
    expect(socket.closed).toBeNull();
    expect(calls).toHaveLength(0);
  });

  it("drops a frame larger than the limit with frame_too_large", async () => {
    const { calls } = mockBroker(() => Response.json({}));
    const socket = await connect(freshDeviceId());
    socket.send({ type: "command", name: "big", params: "x".repeat(17 * 1024) });
    const [, frame] = await socket.waitForFrames(2);
    expect(frame).toEqual({ type: "error", error: { code: "frame_too_large", message: expect.any(String) } });
    expect(socket.closed).toBeNull();
    expect(calls).toHaveLength(0);
  });

  it("rate-limits a socket that sends faster than its bucket, and only that socket", async () => {
    const id = freshDeviceId();
    const noisy = await connect(id);
    const quiet = await connect(id);
    for (let i = 0; i < 30; i++) noisy.send({ type: "noop" });
    const frames = (await noisy.waitForFrames(31)).slice(1) as Array<{ error: { code: string } }>;
    const codes = frames.map((frame) => frame.error.code);
    // Burst 20 at 5 frames/s: the first 20 are read, then the bucket is empty.
    expect(codes.slice(0, 20).every((code) => code === "invalid_frame")).toBe(true);
    expect(codes.filter((code) => code === "rate_limited").length).toBeGreaterThanOrEqual(5);
    quiet.send({ type: "noop" });
    expect((await quiet.waitForFrames(2))[1]).toMatchObject({ error: { code: "invalid_frame" } });
  });

  it("answers the text ping with pong from the runtime, without the object", async () => {
    const id = freshDeviceId();
    const socket = await connect(id);
    socket.send("ping");
    expect((await socket.waitForFrames(2))[1]).toBe("pong");
    const stub = env.DEVICE_CHANNEL.getByName(id);
    const answered = await runInDurableObject(stub, (_instance, state) =>
      state.getWebSockets().map((ws) => state.getWebSocketAutoResponseTimestamp(ws) !== null),
    );
    expect(answered).toEqual([true]);
  });

  it("refuses one socket past the per-device bound with too_many_sockets and close 1013", async () => {
    const id = freshDeviceId(); // the tests run with WS_MAX_SOCKETS_PER_DEVICE=6
    // One user each, so the per-user bound (5) is not what refuses the seventh.
    for (let i = 0; i < 6; i++) await connect(id, "web", `user-${i}`);
    const extra = await ClientSocket.open(id, await clientToken({ devices: [id], sub: "user-6" }));
    open.push(extra);
    const [frame] = await extra.waitForFrames(1);
    expect(frame).toEqual({
      type: "error",
      error: { code: "too_many_sockets", message: expect.any(String) },
    });
    expect((await extra.waitForClose()).code).toBe(1013);
  });

  it("keeps its state across eviction: sockets still receive, new sockets get the stored snapshot", async () => {
    const id = freshDeviceId();
    const before = await connect(id, "mobile");
    await postEvents({
      events: [
        { deviceId: id, type: "presence", online: true, reason: "connect", ts: 10 },
        { deviceId: id, type: "state", state: { ssid: "home" }, ts: 20 },
      ],
    });
    await before.waitForFrames(3);

    const stub = env.DEVICE_CHANNEL.getByName(id);
    // Mark the live instance, evict it (sockets hibernate), and check the mark is gone.
    await runInDurableObject(stub, (instance) => {
      instance.now = () => -1;
    });
    await evictDurableObject(stub);
    expect(await runInDurableObject(stub, (instance) => instance.now())).toBeGreaterThan(0);

    const after = await connect(id, "web");
    expect(after.frames[0]).toEqual({
      type: "snapshot",
      device: { id, online: true, since: 10, lastSeen: 20, state: { ssid: "home" }, ...NO_DESIRED },
      recent: [
        { deviceId: id, type: "presence", online: true, reason: "connect", ts: 10 },
        { deviceId: id, type: "state", state: { ssid: "home" }, ts: 20 },
      ],
    });
    const next = { deviceId: id, type: "event", name: "after.evict", data: 1, ts: 30 };
    await postEvents({ events: [next] });
    expect((await before.waitForFrames(4))[3]).toEqual(next);
    expect((await after.waitForFrames(2))[1]).toEqual(next);
    const tags = await runInDurableObject(stub, (_instance, state) =>
      state.getWebSockets().map((ws) => state.getTags(ws)),
    );
    tags.sort((a, b) => String(a[1]).localeCompare(String(b[1])));
    expect(tags).toEqual([
      [expect.any(String), "kind:mobile", "user:user-1"],
      [expect.any(String), "kind:web", "user:user-1"],
    ]);
    const view = await (await railsRequest(`/v1/devices/${id}`)).json();
    expect(view).toMatchObject({ online: true, state: { ssid: "home" } });
  });

  it("still answers commands after eviction from the socket's stored session", async () => {
    const id = freshDeviceId();
    mockBroker(() => Response.json({ id: "b", ok: true, result: "ok" }));
    const socket = await connect(id);
    await evictDurableObject(env.DEVICE_CHANNEL.getByName(id));
    socket.send({ type: "command", id: "after", name: "status" });
    expect((await socket.waitForFrames(2))[1]).toMatchObject({
      type: "command_result",
      id: "after",
      ok: true,
    });
  });
});
