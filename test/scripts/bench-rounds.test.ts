import { describe, expect, it } from "vitest";
import { medianOfRounds, type OperatorResult } from "../../bench/lib/peers/operator.js";
import { roundsLine } from "../../bench/lib/peers/section.js";

const round = (kb: number, rate: number, extra: Partial<OperatorResult> = {}): OperatorResult => ({
  routers: 15_000,
  failures: 0,
  firstError: undefined,
  rssBefore: 100 * 2 ** 20,
  rssIdle: 200 * 2 ** 20,
  perRouterKb: kb,
  connectPerSecond: rate,
  cpuPerConnectUs: 1e6 / rate,
  load: [1, 1],
  ...extra,
});

describe("the operator leg's rounds (issue 14: one slow spell must not decide the comparison)", () => {
  it("takes each figure's median, sums failures and spans the load", () => {
    const m = medianOfRounds([
      round(7.0, 3_200, { failures: 1, load: [0.5, 0.7], firstError: "timeout" }),
      round(6.2, 1_900, { load: [0.8, 2.5] }),
      round(7.4, 2_800, { failures: 2, load: [2.1, 1.2] }),
    ]);
    expect(m.perRouterKb).toBe(7.0);
    expect(m.connectPerSecond).toBe(2_800);
    expect(m.cpuPerConnectUs).toBeCloseTo(1e6 / 2_800);
    expect(m.failures).toBe(3);
    expect(m.firstError).toBe("timeout");
    expect(m.load).toEqual([0.5, 1.2]);
  });

  it("refuses no rounds", () => {
    expect(() => medianOfRounds([])).toThrow(/no rounds/);
  });

  it("counts the paired rounds Tether won, and says nothing for one round", () => {
    const tether = [round(7, 3_000), round(6, 1_900), round(7.5, 2_700)];
    const aedes = [round(13, 2_500), round(13.5, 2_800), round(7, 2_000)];
    expect(roundsLine(tether, aedes)).toBe(
      "; medians of 3 alternating rounds, round by round ≤ bare Aedes's RSS in 2 and its connect rate or more in 2",
    );
    expect(roundsLine(tether.slice(0, 1), aedes.slice(0, 1))).toBe("");
  });
});
