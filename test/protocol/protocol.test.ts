import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  devicePassword,
  parseCommand,
  parseEventBatch,
  parseTopic,
  signBody,
  timingSafeEqual,
  topics,
  verifyBodySignature,
  verifyDevicePassword,
} from "../../protocol/src/index.js";

describe("device password", () => {
  it("is the unpadded base64url HMAC-SHA256 of the device id under the fleet secret", async () => {
    const expected = createHmac("sha256", "fleet-secret").update("router-7").digest("base64url");
    expect(await devicePassword("fleet-secret", "router-7")).toBe(expected);
    expect(expected).not.toContain("=");
  });

  it("accepts the right password and refuses another device's", async () => {
    const password = await devicePassword("s", "router-1");
    expect(await verifyDevicePassword("s", "router-1", password)).toBe(true);
    expect(await verifyDevicePassword("s", "router-2", password)).toBe(false);
    expect(await verifyDevicePassword("other", "router-1", password)).toBe(false);
  });
});

describe("timingSafeEqual", () => {
  it("compares by content, including different lengths", () => {
    expect(timingSafeEqual("abc", "abc")).toBe(true);
    expect(timingSafeEqual("abc", "abd")).toBe(false);
    expect(timingSafeEqual("abc", "abcd")).toBe(false);
    expect(timingSafeEqual("", "")).toBe(true);
  });
});

describe("event signature", () => {
  it("matches Node's HMAC over '<t>.<body>' and verifies within the tolerance", async () => {
    const body = '{"events":[]}';
    const header = await signBody("edge-secret", body, 1_700_000_000);
    const mac = createHmac("sha256", "edge-secret").update(`1700000000.${body}`).digest("hex");
    expect(header).toBe(`t=1700000000,v1=${mac}`);
    expect(await verifyBodySignature("edge-secret", header, body, 1_700_000_299)).toEqual({ ok: true });
  });

  it("refuses a stale timestamp, a changed body, a wrong secret and a malformed header", async () => {
    const header = await signBody("k", "body", 1_000);
    expect(await verifyBodySignature("k", header, "body", 1_301)).toEqual({ ok: false, reason: "stale" });
    expect(await verifyBodySignature("k", header, "bodY", 1_000)).toEqual({ ok: false, reason: "mismatch" });
    expect(await verifyBodySignature("x", header, "body", 1_000)).toEqual({ ok: false, reason: "mismatch" });
    expect(await verifyBodySignature("k", "v1=abc", "body", 1_000)).toEqual({
      ok: false,
      reason: "malformed",
    });
    expect(await verifyBodySignature("k", null, "body", 1_000)).toEqual({ ok: false, reason: "malformed" });
  });
});

describe("topics", () => {
  it("round-trips every contract topic", () => {
    expect(parseTopic(topics.commands("r1"))).toEqual({ kind: "commands", deviceId: "r1" });
    expect(parseTopic(topics.results("r1"))).toEqual({ kind: "results", deviceId: "r1" });
    expect(parseTopic(topics.state("r1"))).toEqual({ kind: "state", deviceId: "r1" });
    expect(parseTopic(topics.event("r1", "wifi.up"))).toEqual({
      kind: "event",
      deviceId: "r1",
      name: "wifi.up",
    });
  });

  it("rejects wildcards, $SYS, extra levels and bad ids", () => {
    for (const bad of [
      "devices/+/state",
      "devices/#",
      "$SYS/broker",
      "devices/r1/events/a/b",
      "devices/r 1/state",
      "x/r1/state",
      "devices/r1/other",
    ]) {
      expect(parseTopic(bad)).toBeNull();
    }
  });
});

describe("message guards", () => {
  it("accepts a well-formed command and says what is wrong with a bad one", () => {
    expect(parseCommand({ id: "c1", name: "ping", expiresAt: 5 })).toEqual({
      ok: true,
      value: { id: "c1", name: "ping", params: null, expiresAt: 5 },
    });
    const bad = parseCommand({ id: "c1", name: "ping" });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.message).toMatch(/expiresAt/);
  });

  it("validates each event of a batch and names the bad one", () => {
    const good = { deviceId: "r1", ts: 1, type: "presence", online: true, reason: "connect" };
    expect(parseEventBatch({ batchId: "batch-0001", events: [good] }).ok).toBe(true);
    expect(parseEventBatch({ events: [good] })).toEqual({
      ok: false,
      message: "batchId must be 8–128 characters of [A-Za-z0-9_-]",
    });
    const bad = parseEventBatch({ batchId: "batch-0001", events: [good, { ...good, reason: "nope" }] });
    expect(bad).toEqual({ ok: false, message: "events[1]: presence.reason is invalid" });
  });
});
