import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "..", "..");

// A small Node process that writes a snapshot, keeps 5,000 LeakedThing objects in a
// Map (as a leak would), writes another: the diff must name the group and its holder.
const CHILD = `
const { writeHeapSnapshot } = require("node:v8");
class LeakedThing { constructor(i) { this.id = i; this.payload = [i, i + 1, i + 2]; } }
const registry = new Map();
writeHeapSnapshot(process.argv[1]);
for (let i = 0; i < 5000; i++) registry.set(i, new LeakedThing(i));
writeHeapSnapshot(process.argv[2]);
globalThis.keep = registry;
`;

describe("npm run heap-diff", () => {
  let dir: string;
  let before: string;
  let after: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tether-heap-diff-"));
    before = join(dir, "a.heapsnapshot");
    after = join(dir, "b.heapsnapshot");
    await run(process.execPath, ["-e", CHILD, before, after]);
  }, 60_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("names the group that grew, with its count, and who holds it", async () => {
    const { stdout } = await run(
      process.execPath,
      ["--import", "tsx", "scripts/heap-diff.ts", before, after, "--retainers", "object LeakedThing"],
      { cwd: ROOT },
    );
    const [summary = "", , first = ""] = stdout.split("\n");
    expect(summary).toMatch(
      /^heap \(self sizes\): \+\d+\.\d KB — V8 code [+-]\d+\.\d KB, everything else \+\d+\.\d KB$/,
    );
    // 5,000 objects of 5 fields, plus their arrays, dominate whatever else the child allocated.
    expect(stdout).toMatch(/\+\s*\d+\.\d KB\s+5000\s+object LeakedThing/);
    expect(["object LeakedThing", "array"].some((group) => first.endsWith(group))).toBe(true);
    // A Map keeps its entries in a backing table (type "array"): all 5,000 in one row.
    expect(stdout).toMatch(
      /who holds "object LeakedThing"[^\n]*\n\s+\+\d+\.\d KB\s+5000\s+array --internal:\[\]-->/,
    );
  }, 60_000);

  it("refuses anything but two snapshot files, with the usage", async () => {
    const failure = await run(process.execPath, ["--import", "tsx", "scripts/heap-diff.ts", before], {
      cwd: ROOT,
    }).catch((error: { code: number; stderr: string }) => error);
    expect(failure).toMatchObject({ code: 2, stderr: expect.stringContaining("Usage: npm run heap-diff") });
  });
});
