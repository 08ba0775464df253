import { describe, expect, it } from "vitest";
import {
  applyMergePatch,
  DESIRED_LIMITS,
  desiredAckOf,
  desiredBoundsRefusal,
  desiredDelta,
  parseDesiredDocument,
  topics,
} from "../../protocol/src/index.js";

describe("desired state in the protocol module (issue 15)", () => {
  // RFC 7386 Appendix A, every example.
  it.each([
    [{ a: "b" }, { a: "c" }, { a: "c" }],
    [{ a: "b" }, { b: "c" }, { a: "b", b: "c" }],
    [{ a: "b" }, { a: null }, {}],
    [{ a: "b", b: "c" }, { a: null }, { b: "c" }],
    [{ a: ["b"] }, { a: "c" }, { a: "c" }],
    [{ a: "c" }, { a: ["b"] }, { a: ["b"] }],
    [{ a: { b: "c" } }, { a: { b: "d", c: null } }, { a: { b: "d" } }],
    [{ a: [{ b: "c" }] }, { a: [1] }, { a: [1] }],
    [
      ["a", "b"],
      ["c", "d"],
      ["c", "d"],
    ],
    [{ a: "b" }, ["c"], ["c"]],
    [{ a: "foo" }, null, null],
    [{ a: "foo" }, "bar", "bar"],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: "b", c: null }, { a: "b" }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ])("merge patch %j with %j gives %j (RFC 7386)", (target, patch, result) => {
    expect(applyMergePatch(target, patch)).toEqual(result);
  });

  it("never changes its arguments", () => {
    const target = { wifi: { ssid: "a" } };
    applyMergePatch(target, { wifi: { ssid: "b" } });
    expect(target).toEqual({ wifi: { ssid: "a" } });
  });

  it("the delta is each desired key whose value differs (deeply) from the reported state", () => {
    const desired = { wifi: { ssid: "b", band: 5 }, dns: ["1.1.1.1"], led: "off" };
    const reported = { wifi: { band: 5, ssid: "b" }, dns: ["9.9.9.9"], uptime: 3, desiredVersion: 2 };
    expect(desiredDelta(desired, reported)).toEqual({ dns: ["1.1.1.1"], led: "off" });
    expect(desiredDelta(desired, null)).toEqual(desired);
    expect(desiredDelta({}, reported)).toEqual({});
  });

  it("reads the acknowledgement from a reported state, ignoring malformed values", () => {
    expect(desiredAckOf({ desiredVersion: 3, desiredError: null })).toEqual({
      desiredVersion: 3,
      desiredError: null,
    });
    const error = { version: 4, code: "handler_error", message: "no" };
    expect(desiredAckOf({ desiredVersion: 3, desiredError: error })).toEqual({
      desiredVersion: 3,
      desiredError: error,
    });
    expect(desiredAckOf({ desiredVersion: "3", desiredError: { version: 1 } })).toEqual({
      desiredVersion: null,
      desiredError: null,
    });
    expect(desiredAckOf(null)).toEqual({ desiredVersion: null, desiredError: null });
  });

  it("bounds a document in bytes and depth", () => {
    expect(desiredBoundsRefusal({ a: "x".repeat(DESIRED_LIMITS.maxBytes - 10) })).toBeNull();
    expect(desiredBoundsRefusal({ a: "x".repeat(DESIRED_LIMITS.maxBytes) })?.code).toBe("payload_too_large");
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < DESIRED_LIMITS.maxDepth; i++) deep = { d: deep };
    expect(desiredBoundsRefusal(deep)?.code).toBe("invalid_request");
    expect(parseDesiredDocument({ version: 1, desired: { a: 1 } })).toEqual({
      ok: true,
      value: { version: 1, desired: { a: 1 } },
    });
    for (const bad of [
      { version: 0, desired: {} },
      { version: 1.5, desired: {} },
      { version: 1, desired: [] },
      null,
    ]) {
      expect(parseDesiredDocument(bad).ok).toBe(false);
    }
  });

  it("names the desired topic once", () => {
    expect(topics.desired("r1")).toBe("devices/r1/desired");
  });
});
