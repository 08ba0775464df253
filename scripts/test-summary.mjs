/**
 * `npm test`'s closing line over its lanes (scripts/test.sh): reads each lane's vitest JSON
 * summary, prints "tests: N passed, N failed, N skipped", and writes the lanes merged into one
 * vitest-shaped summary where TETHER_TEST_SUMMARY asked for it (.ci/run reads that file).
 *
 *   node scripts/test-summary.mjs <merged output file, or ""> <lane summary>...
 *
 * Exits 1 when a lane left no readable summary (it crashed before reporting).
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";

const [output = "", ...lanes] = process.argv.slice(2);

/** The counters vitest's JSON reporter writes; summed over the lanes. */
const COUNTS = [
  "numTotalTestSuites",
  "numPassedTestSuites",
  "numFailedTestSuites",
  "numPendingTestSuites",
  "numTotalTests",
  "numPassedTests",
  "numFailedTests",
  "numPendingTests",
  "numTodoTests",
];

const merged = { success: true, startTime: Number.POSITIVE_INFINITY, testResults: [] };
for (const name of COUNTS) merged[name] = 0;
let missing = 0;
for (const lane of lanes) {
  const summary = existsSync(lane) ? readJson(lane) : null;
  if (summary === null) {
    console.error(`npm test: no test summary at ${lane}: that vitest run ended before reporting`);
    missing++;
    continue;
  }
  for (const name of COUNTS) merged[name] += Number(summary[name] ?? 0);
  merged.success &&= summary.success === true;
  merged.startTime = Math.min(merged.startTime, Number(summary.startTime ?? Date.now()));
  if (Array.isArray(summary.testResults)) merged.testResults.push(...summary.testResults);
}
if (missing > 0 || lanes.length === 0) merged.success = false;
if (!Number.isFinite(merged.startTime)) merged.startTime = Date.now();

const skipped = merged.numPendingTests + merged.numTodoTests;
console.log(`tests: ${merged.numPassedTests} passed, ${merged.numFailedTests} failed, ${skipped} skipped`);
if (output) writeFileSync(output, JSON.stringify(merged));
process.exit(missing > 0 || lanes.length === 0 ? 1 : 0);

/** A lane's summary, or null when it is not JSON (a run killed while writing it). */
function readJson(path) {
  try {
    const value = JSON.parse(readFileSync(path, "utf8"));
    return typeof value === "object" && value !== null ? value : null;
  } catch {
    return null;
  }
}
