/**
 * glibc's malloc gives each thread that allocates its own arena (up to 8 per core).
 * Node allocates from several threads (V8's compiler and GC helpers, libuv's pool for
 * WebCrypto), and under connection churn the arenas fragment: in the soak at ten times
 * the default churn, RSS after a full GC crept 2.3 KB/s with glibc's default while the
 * JS heap stayed within 0.4 KB/s; with MALLOC_ARENA_MAX=2 it levelled off after three
 * minutes (docs/MEMORY.md, "Native memory"). `npm run broker`, `npm start`, the soak
 * and the README's systemd unit set it; this names it when a broker runs without.
 */
import { readFileSync } from "node:fs";

/** The glibc version this process runs on, or null (musl, macOS, Windows). */
export function glibcVersion(): string | null {
  const report = process.report?.getReport();
  const header = typeof report === "object" && report !== null ? Reflect.get(report, "header") : undefined;
  const version =
    typeof header === "object" && header !== null ? Reflect.get(header, "glibcVersionRuntime") : undefined;
  return typeof version === "string" ? version : null;
}

/** Whether jemalloc is this process's malloc: libjemalloc mapped (LD_PRELOAD, issue 18). */
export function jemallocLoaded(maps: () => string = () => readFileSync("/proc/self/maps", "utf8")): boolean {
  try {
    return /libjemalloc\.so/.test(maps());
  } catch {
    return false; // no /proc (macOS): not the preloaded jemalloc we set up
  }
}

/** The start-up line naming the malloc the broker runs on (docs/MEMORY.md, "Allocator"). */
export function allocatorLine(env: NodeJS.ProcessEnv, glibc: string | null, jemalloc: boolean): string {
  if (jemalloc) return "allocator: jemalloc (LD_PRELOAD)";
  if (glibc === null) return "allocator: the platform's malloc";
  const arenas =
    (env.MALLOC_ARENA_MAX ?? "") === ""
      ? "MALLOC_ARENA_MAX unset"
      : `MALLOC_ARENA_MAX=${env.MALLOC_ARENA_MAX}`;
  return `allocator: glibc ${glibc} malloc (${arenas})`;
}

/** Advice to print at start-up, or null when there is none to give (none on jemalloc). */
export function mallocArenaAdvice(
  env: NodeJS.ProcessEnv,
  glibc: string | null,
  jemalloc = false,
): string | null {
  if (jemalloc || glibc === null || (env.MALLOC_ARENA_MAX ?? "") !== "") return null;
  return (
    `glibc ${glibc} with MALLOC_ARENA_MAX unset: under connection churn RSS creeps as malloc ` +
    "arenas fragment; set MALLOC_ARENA_MAX=2 in the broker's environment (docs/MEMORY.md)"
  );
}
