/**
 * `npm run heap-diff -- <before.heapsnapshot> <after.heapsnapshot>`: what grew between
 * two heap snapshots of the broker (SIGUSR2 writes them, docs/MEMORY.md), by group,
 * with V8's compiled code apart from data — the first question about a slow climb.
 */
import { parseArgs } from "node:util";
import { groupGrowth, heapGroups, loadHeapSnapshot, retainerGroups } from "./lib/heap-snapshot-file.js";

const HELP = `Usage: npm run heap-diff -- <before.heapsnapshot> <after.heapsnapshot> [options]

Groups every object of both snapshots by type and constructor ("object Client",
"closure onData", "code", "string", …), sums their self sizes and prints the groups that
grew most. V8's compiled code and its metadata are the group "code": growth there is the
JIT warming up (it stops; bounded by the program), growth elsewhere is data.

Options:
  --top <n>             groups to print (default 25)
  --retainers <group>   also: who holds that group in <after>, by retainer and edge,
                        compared with <before> (e.g. --retainers "object Client")
  --help                this text

Example: kill -USR2 <pid>; (an hour later) kill -USR2 <pid>;
         npm run heap-diff -- /var/tmp/tether-heap/tether-…-000001.heapsnapshot …-000002.heapsnapshot`;

function kb(bytes: number): string {
  return `${bytes >= 0 ? "+" : ""}${(bytes / 1024).toFixed(1)} KB`;
}

function main(argv: string[]): number {
  let parsed: ReturnType<
    typeof parseArgs<{
      options: { top: { type: "string" }; retainers: { type: "string" }; help: { type: "boolean" } };
      allowPositionals: true;
    }>
  >;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { top: { type: "string" }, retainers: { type: "string" }, help: { type: "boolean" } },
    });
  } catch (error) {
    console.error(`heap-diff: ${error instanceof Error ? error.message : String(error)}\n\n${HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const top = Number(values.top ?? 25);
  if (positionals.length !== 2 || !Number.isInteger(top) || top < 1) {
    console.error(`heap-diff: give two snapshot files (and --top a positive integer)\n\n${HELP}`);
    return 2;
  }
  const [beforePath = "", afterPath = ""] = positionals;
  process.stderr.write(`reading ${beforePath} …\n`);
  const before = loadHeapSnapshot(beforePath);
  process.stderr.write(`reading ${afterPath} …\n`);
  const after = loadHeapSnapshot(afterPath);

  const rows = groupGrowth(heapGroups(before), heapGroups(after));
  const total = rows.reduce((sum, row) => sum + row.bytes, 0);
  const code = rows.find((row) => row.key === "code")?.bytes ?? 0;
  console.log(`heap (self sizes): ${kb(total)} — V8 code ${kb(code)}, everything else ${kb(total - code)}`);
  console.log("     bytes   objects  group");
  for (const row of rows.filter((r) => r.bytes !== 0).slice(0, top)) {
    console.log(`${kb(row.bytes).padStart(10)} ${String(row.count).padStart(9)}  ${row.key}`);
  }
  if (values.retainers) {
    const held = groupGrowth(
      retainerGroups(before, values.retainers),
      retainerGroups(after, values.retainers),
    );
    console.log(`\nwho holds "${values.retainers}" (growth by retainer --edge-->):`);
    for (const row of held.filter((r) => r.count !== 0).slice(0, top)) {
      console.log(`${kb(row.bytes).padStart(10)} ${String(row.count).padStart(9)}  ${row.key}`);
    }
  }
  return 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (error) {
  console.error(`heap-diff: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
