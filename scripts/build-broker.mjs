/**
 * Builds the broker into plain JavaScript: dist/broker/cli.js (issue 14, "Reconnect storm").
 * `node --import tsx broker/src/cli.ts` compiles ~100 TypeScript files at every start, which
 * took 5.8–12.3 s on a loaded machine while a whole fleet waited for the broker to come back;
 * the bundle starts in a fraction of that (docs/BENCHMARKS.md, "Reconnect storm").
 *
 *   node scripts/build-broker.mjs            build now (esbuild, ~100–300 ms)
 *   node scripts/build-broker.mjs --if-stale build only when dist/broker is missing or older
 *                                            than one of its inputs (a few stat calls)
 *
 * Plain JavaScript on purpose: it runs on bare Node, before anything is compiled.
 * `npm run broker`, `npm start`, the soak and the bench's storm run it with --if-stale, so a
 * fresh clone and an edited checkout both start the current code. Our own code (broker/,
 * protocol/) is bundled; node_modules stay external, resolved at run time as before (so
 * `npm ci --omit=dev` still has what it needs: esbuild is a dependency, not a dev one).
 * dist/broker/meta.json (esbuild's metafile) lists the inputs that decide staleness.
 */
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const BROKER_ENTRY = join(ROOT, "dist/broker/cli.js");
const OUT_DIR = join(ROOT, "dist/broker");
const META = join(OUT_DIR, "meta.json");
const SELF = fileURLToPath(import.meta.url);

function mtimeMs(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return null;
  }
}

/**
 * Why the build must run again, or null when dist/broker is current: missing output, an input
 * (any file esbuild read, this script, package.json) newer than the output, or an input gone.
 */
export function staleReason() {
  const built = mtimeMs(BROKER_ENTRY);
  if (built === null) return "dist/broker/cli.js does not exist";
  let inputs;
  try {
    inputs = Object.keys(JSON.parse(readFileSync(META, "utf8")).inputs);
  } catch {
    return "dist/broker/meta.json is missing or unreadable";
  }
  for (const input of [...inputs.map((p) => join(ROOT, p)), SELF, join(ROOT, "package.json")]) {
    const changed = mtimeMs(input);
    if (changed === null) return `${relative(ROOT, input)} is gone`;
    if (changed > built) return `${relative(ROOT, input)} changed`;
  }
  return null;
}

/**
 * Bundles broker/src/cli.ts into dist/broker/cli.js (+ .map, meta.json). One file, written
 * beside and renamed into place, so a broker starting while another process rebuilds (tests
 * in parallel) reads either the old file or the new one, never half of one. One file also
 * means `--help` and `credentials` load the broker's packages too (cli.ts imports it lazily;
 * splitting would keep that, at the price of chunks that cannot be swapped atomically).
 */
export async function buildBroker() {
  const { build } = await import("esbuild");
  mkdirSync(OUT_DIR, { recursive: true });
  const scratch = mkdtempSync(join(OUT_DIR, ".build-"));
  try {
    const result = await build({
      absWorkingDir: ROOT,
      entryPoints: ["broker/src/cli.ts"],
      outfile: join(scratch, "cli.js"),
      bundle: true,
      format: "esm",
      platform: "node",
      target: "node20",
      packages: "external",
      sourcemap: true,
      metafile: true,
      logLevel: "warning",
      banner: { js: "// Built by scripts/build-broker.mjs from broker/src: edit the TypeScript, not this." },
    });
    writeFileSync(join(scratch, "meta.json"), JSON.stringify(result.metafile));
    // cli.js last but one, meta.json last: staleReason() compares cli.js's mtime with the inputs.
    for (const file of ["cli.js.map", "cli.js", "meta.json"])
      renameSync(join(scratch, file), join(OUT_DIR, file));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Builds when stale; returns what it did, for one line of output. */
export async function ensureBrokerBuilt() {
  const reason = staleReason();
  if (reason === null) return null;
  const started = performance.now();
  await buildBroker();
  return `built dist/broker (${reason}) in ${Math.round(performance.now() - started)} ms`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const ifStale = process.argv.includes("--if-stale");
  const unknown = process.argv.slice(2).filter((a) => a !== "--if-stale");
  if (unknown.length > 0) {
    console.error(`build-broker: unknown argument ${unknown[0]} (only --if-stale)`);
    process.exit(2);
  }
  try {
    if (ifStale) {
      const done = await ensureBrokerBuilt();
      if (done) console.error(`tether: ${done}`);
    } else {
      await buildBroker();
    }
  } catch (error) {
    console.error("build-broker: the broker did not build:", error instanceof Error ? error.message : error);
    process.exit(1);
  }
}
