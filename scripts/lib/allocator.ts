/**
 * Which malloc the broker runs on (issue 18): glibc with MALLOC_ARENA_MAX=2, or jemalloc
 * through LD_PRELOAD when Debian's `libjemalloc2` is installed. `TETHER_ALLOCATOR`
 * chooses (glibc | jemalloc | auto); auto (the default) takes jemalloc when the library
 * is there. docs/MEMORY.md, "Allocator", has the measurements behind the default.
 */
import { existsSync, readdirSync } from "node:fs";

export type Allocator = "glibc" | "jemalloc";
export type AllocatorChoice = Allocator | "auto";

/** Where Debian and Ubuntu put jemalloc 5 (`libjemalloc2`), per architecture. */
export function findJemalloc(root = "/usr/lib"): string | null {
  let dirs: string[];
  try {
    dirs = readdirSync(root);
  } catch {
    return null;
  }
  for (const dir of [".", ...dirs.sort()]) {
    const path = dir === "." ? `${root}/libjemalloc.so.2` : `${root}/${dir}/libjemalloc.so.2`;
    if (existsSync(path)) return path;
  }
  return null;
}

export function parseAllocatorChoice(text: string | undefined): AllocatorChoice {
  const value = (text ?? "").trim().toLowerCase();
  if (value === "" || value === "auto") return "auto";
  if (value === "glibc" || value === "jemalloc") return value;
  throw new Error(`TETHER_ALLOCATOR must be glibc, jemalloc or auto (got "${text}")`);
}

export interface AllocatorSetup {
  allocator: Allocator;
  /** Variables to add to the broker's environment. */
  env: Record<string, string>;
  /** One line for the operator: what runs, or why jemalloc does not. */
  message: string;
}

/**
 * The broker's allocator environment. jemalloc wanted but absent falls back to glibc
 * with a one-line message (never a failed start); glibc always gets MALLOC_ARENA_MAX
 * (`arenaMax`, default 2; 0 leaves glibc's default).
 */
export function allocatorSetup(
  choice: AllocatorChoice,
  { jemallocPath = findJemalloc(), arenaMax = 2, preload = "" } = {},
): AllocatorSetup {
  const glibc = (message: string): AllocatorSetup => ({
    allocator: "glibc",
    env: arenaMax > 0 ? { MALLOC_ARENA_MAX: String(arenaMax) } : {},
    message,
  });
  const arenas = arenaMax > 0 ? `MALLOC_ARENA_MAX=${arenaMax}` : "MALLOC_ARENA_MAX unset";
  if (choice === "glibc") return glibc(`allocator: glibc malloc (${arenas}), as TETHER_ALLOCATOR asks`);
  if (jemallocPath === null) {
    const why =
      choice === "jemalloc"
        ? "TETHER_ALLOCATOR=jemalloc but no /usr/lib/*/libjemalloc.so.2"
        : "jemalloc not installed";
    return glibc(`allocator: glibc malloc (${arenas}); ${why} (apt-get install libjemalloc2 to use it)`);
  }
  const already = preload.split(/[:\s]+/).filter((p) => p !== "" && p !== jemallocPath);
  return {
    allocator: "jemalloc",
    env: { LD_PRELOAD: [jemallocPath, ...already].join(":") },
    message: `allocator: jemalloc (LD_PRELOAD=${jemallocPath})`,
  };
}

/**
 * The allocator the broker is deployed with, from this process's environment
 * (`TETHER_ALLOCATOR`, `MALLOC_ARENA_MAX`, an `LD_PRELOAD` to keep): what `npm start`, the soak's
 * and the benches' brokers run on.
 */
export function deployedAllocator(env: NodeJS.ProcessEnv = process.env): AllocatorSetup {
  return allocatorSetup(parseAllocatorChoice(env.TETHER_ALLOCATOR), {
    arenaMax: Number(env.MALLOC_ARENA_MAX || "2") || 0,
    preload: env.LD_PRELOAD ?? "",
  });
}
