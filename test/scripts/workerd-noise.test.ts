import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CLIENT_GONE_LINE, workerdNoiseFilter } from "../../scripts/lib/workerd-noise.js";

// What `wrangler dev` printed under `npm start` when a console tab vanished (issue 13),
// colour codes and all, between two lines of the simulator's progress.
const CAPTURED = readFileSync(new URL("./fixtures/workerd-broken-pipe.txt", import.meta.url), "utf8")
  .replace(/\n$/, "")
  .split("\n");

describe("the edge's output under npm start", () => {
  it("shows workerd's Broken-pipe trace for a vanished WebSocket client as one plain sentence", () => {
    const filter = workerdNoiseFilter();
    const shown = CAPTURED.map(filter).filter((line) => line !== null);
    expect(CAPTURED.some((line) => line.includes("Broken pipe"))).toBe(true);
    expect(shown).toEqual([CAPTURED[0], CLIENT_GONE_LINE, CAPTURED.at(-2), CAPTURED.at(-1)]);
  });

  it("shows the same trace with ECONNRESET (the client reset the connection) as the same sentence", () => {
    const filter = workerdNoiseFilter();
    const reset = CAPTURED.map((line) => line.replace("Broken pipe", "Connection reset by peer"));
    expect(reset.some((line) => line.includes("Connection reset by peer"))).toBe(true);
    const shown = reset.map(filter).filter((line) => line !== null);
    expect(shown).toEqual([reset[0], CLIENT_GONE_LINE, reset.at(-2), reset.at(-1)]);
  });

  it("passes every other line, blank lines included, unchanged", () => {
    const filter = workerdNoiseFilter();
    const lines = ["⎔ Starting local server...", "", "  stack: not workerd's", "[wrangler:info] Ready"];
    expect(lines.map(filter)).toEqual(lines);
  });
});
