import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const FILE = fileURLToPath(new URL("../../../docs/BENCHMARKS.md", import.meta.url));

/**
 * Replaces the `## <heading>` section of docs/BENCHMARKS.md (up to the next `## `)
 * with `body`, or appends it; every other section is kept as it is, since other
 * benches own them.
 */
export function writeBenchmarksSection(heading: string, body: string): string {
  const title = `## ${heading}`;
  const section = `${title}\n\n${body.trim()}\n`;
  const current = existsSync(FILE) ? readFileSync(FILE, "utf8") : "# Benchmarks\n";
  const start = current.search(new RegExp(`^${title.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\s*$`, "m"));
  let next: string;
  if (start === -1) {
    next = `${current.trimEnd()}\n\n${section}`;
  } else {
    const after = current.indexOf("\n## ", start + title.length);
    next = `${current.slice(0, start)}${section}${after === -1 ? "" : `\n${current.slice(after + 1)}`}`;
  }
  writeFileSync(FILE, `${next.trimEnd()}\n`);
  return FILE;
}
