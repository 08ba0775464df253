import { describe, expect, it } from "vitest";
import { SmallMap } from "../../broker/src/sessions/small-map.js";

describe("SmallMap (the persistence's one-entry indexes)", () => {
  it("behaves as a Map through one, two and back to zero entries", () => {
    const map = new SmallMap<string, number>();
    expect([map.size, map.get("a"), map.has("a"), [...map]]).toEqual([0, undefined, false, []]);
    map.set("a", 1).set("a", 2);
    expect([map.size, map.get("a"), map.has("b"), [...map]]).toEqual([1, 2, false, [["a", 2]]]);
    map.set("b", 3);
    expect([map.size, map.get("a"), map.get("b"), [...map.keys()]]).toEqual([2, 2, 3, ["a", "b"]]);
    expect(map.delete("a")).toBe(true);
    expect(map.delete("a")).toBe(false);
    expect(map.delete("b")).toBe(true);
    expect([map.size, [...map]]).toEqual([0, []]);
  });

  it("deletes its single entry only under its own key", () => {
    const map = new SmallMap<string, number>();
    map.set("a", 1);
    expect(map.delete("b")).toBe(false);
    expect(map.delete("a")).toBe(true);
    expect([map.size, map.has("a")]).toEqual([0, false]);
  });
});
