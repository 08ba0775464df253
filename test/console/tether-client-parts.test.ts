import { describe, expect, it } from "vitest";
import {
  backoffDelay,
  deviceSocketUrl,
  isAuthFailure,
  parseServerFrame,
  TetherClient,
} from "../../edge/public/tether-client.js";

describe("parseServerFrame", () => {
  it("keeps a snapshot's valid recent events and counts the ones it drops", () => {
    const parsed = parseServerFrame(
      {
        type: "snapshot",
        device: { id: "r1", online: false, since: 5, lastSeen: null, state: null },
        recent: [
          { type: "presence", deviceId: "r1", ts: 5, online: false, reason: "disconnect" },
          { type: "presence", deviceId: "r2", ts: 6, online: true, reason: "connect" },
          { type: "state", deviceId: "r1", ts: 7 },
        ],
      },
      "r1",
    );

    expect(parsed.ok && parsed.value.type === "snapshot" && parsed.value.recent.length).toBe(1);
    expect(parsed.ok && parsed.value.type === "snapshot" && parsed.value.dropped).toBe(2);
  });

  it("accepts a direct command_result without deviceId and ts, and a presence reason it does not know", () => {
    expect(parseServerFrame({ type: "command_result", id: "c1", ok: true }, "r1")).toEqual({
      ok: true,
      value: { type: "command_result", id: "c1", ok: true, result: null },
    });
    const presence = { type: "presence", deviceId: "r1", ts: 1, online: true, reason: "migrated" };
    expect(parseServerFrame(presence, "r1")).toEqual({ ok: true, value: presence });
  });

  it("reads desired state (issue 15) from the snapshot and from desired frames, and refuses a malformed one", () => {
    const info = {
      desired: { led: "off" },
      desiredVersion: 2,
      reportedDesiredVersion: 1,
      delta: { led: "off" },
      desiredError: { version: 2, code: "handler_error", message: "no" },
    };
    const view = { id: "r1", online: true, since: 5, lastSeen: 6, state: { led: "on" } };
    const snapshot = parseServerFrame({ type: "snapshot", device: { ...view, ...info }, recent: [] }, "r1");
    expect(snapshot).toMatchObject({ ok: true, value: { device: view, desired: info } });
    const older = parseServerFrame({ type: "snapshot", device: view, recent: [] }, "r1");
    expect(older).toMatchObject({ ok: true, value: { desired: null } });
    const frame = { type: "desired", deviceId: "r1", ts: 9, ...info };
    expect(parseServerFrame(frame, "r1")).toEqual({ ok: true, value: frame });
    expect(parseServerFrame({ ...frame, deviceId: "r2" }, "r1")).toMatchObject({ ok: false });
    expect(parseServerFrame({ ...frame, desiredVersion: "2" }, "r1")).toMatchObject({ ok: false });
  });

  it("refuses a frame about another device", () => {
    const parsed = parseServerFrame({ type: "state", deviceId: "r2", ts: 1, state: {} }, "r1");
    expect(parsed).toMatchObject({ ok: false, message: expect.stringContaining("r2") });
  });
});

describe("deviceSocketUrl", () => {
  it("maps http(s) to ws(s), keeps a path prefix and drops query and hash", () => {
    expect(deviceSocketUrl("https://edge.example", "r1")).toBe("wss://edge.example/v1/devices/r1/ws");
    expect(deviceSocketUrl("http://127.0.0.1:8787/tether/?x=1#y", "r1")).toBe(
      "ws://127.0.0.1:8787/tether/v1/devices/r1/ws",
    );
  });

  it("refuses a bad device id, a relative URL and another scheme", () => {
    expect(() => deviceSocketUrl("https://edge.example", "../admin")).toThrow(/deviceId/);
    expect(() => deviceSocketUrl("/edge", "r1")).toThrow(/absolute/);
    expect(() => deviceSocketUrl("ftp://edge.example", "r1")).toThrow(/http/);
  });
});

describe("backoffDelay", () => {
  it("draws from [0, min(cap, base × 2^attempt)) and never overflows", () => {
    expect([0, 1, 2, 3].map((n) => backoffDelay(n, 0.5, 500, 30_000))).toEqual([250, 500, 1000, 2000]);
    expect(backoffDelay(10, 0.999, 500, 30_000)).toBe(29_970);
    expect(backoffDelay(5_000, 0.5, 500, 30_000)).toBe(15_000);
    expect(backoffDelay(3, 0, 500, 30_000)).toBe(0);
  });
});

describe("isAuthFailure", () => {
  it("recognises auth close codes and the 401/403 wording of ws, OkHttp and iOS", () => {
    expect(isAuthFailure(4401, "")).toBe(true);
    expect(isAuthFailure(4403, "")).toBe(true);
    expect(isAuthFailure(1008, "")).toBe(true);
    expect(isAuthFailure(1006, "Unexpected server response: 401")).toBe(true);
    expect(isAuthFailure(1006, "Expected HTTP 101 response but was '403 Forbidden'")).toBe(true);
    expect(isAuthFailure(1006, "Received bad response code from server 401.")).toBe(true);
  });

  it("does not mistake a network failure or a port number for a refusal", () => {
    expect(isAuthFailure(1006, "connect ECONNREFUSED 127.0.0.1:401")).toBe(false);
    expect(isAuthFailure(1006, "Unexpected server response: 502")).toBe(false);
    expect(isAuthFailure(1001, "")).toBe(false);
  });
});

describe("TetherClient options", () => {
  it("refuses an empty token and a missing WebSocket implementation (Node 20 has none)", () => {
    expect(() => new TetherClient({ baseUrl: "http://e", deviceId: "r1", token: "" })).toThrow(/token/);
    expect(() => new TetherClient({ baseUrl: "http://e", deviceId: "r1", token: "t" })).toThrow(/WebSocket/);
  });
});
