/**
 * Issue 13: operators read the broker's metrics in docs/BROKER.md's table; it must say
 * exactly what a running broker exports, so it cannot drift from the code.
 */
import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { cleanupAll } from "../broker/helpers.js";
import { exportedMetrics } from "./exported-metrics.js";

afterEach(cleanupAll);

interface TableRow {
  type: string;
  labels: string[];
}

/** The rows of BROKER.md's "## Metrics" table: `| \`name\` | type | \`label\` | meaning |`. */
function documentedMetrics(): Map<string, TableRow> {
  const doc = readFileSync(new URL("../../docs/BROKER.md", import.meta.url), "utf8");
  const section = doc.split(/^## Metrics$/m)[1]?.split(/^#{2,3} /m)[0] ?? "";
  const rows = new Map<string, TableRow>();
  for (const [, name = "", type = "", labels = ""] of section.matchAll(
    /^\| `([a-z0-9_]+)` \| (\w+) \|([^|]*)\|/gm,
  )) {
    rows.set(name, { type, labels: [...labels.matchAll(/`(\w+)`/g)].map((m) => m[1] ?? "") });
  }
  return rows;
}

describe("docs/BROKER.md's metrics table", () => {
  it("lists every tether_* metric a running broker exports, with its type and labels, and no other", async () => {
    const exported = new Map([...(await exportedMetrics())].filter(([name]) => name.startsWith("tether_")));
    const documented = documentedMetrics();
    expect(exported.size).toBeGreaterThan(10);
    expect([...documented.keys()].sort()).toEqual([...exported.keys()].sort());
    for (const [name, metric] of exported) {
      expect({ name, ...documented.get(name) }).toEqual({ name, type: metric.type, labels: metric.labels });
    }
  });
});
