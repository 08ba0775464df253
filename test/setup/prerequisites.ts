import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

/** A program `npm test` runs, and the package that provides it on each platform. */
export interface Tool {
  /** The executable's name. */
  command: string;
  /** Debian/Ubuntu package. */
  apt: string;
  /** Homebrew formula; undefined where the tests do without it on macOS. */
  brew?: string;
}

export const TOOLS = {
  redis: { command: "redis-server", apt: "redis-server", brew: "redis" },
  mosquitto: { command: "mosquitto", apt: "mosquitto", brew: "mosquitto" },
  // The browser test looks for Debian's Chromium; elsewhere it is skipped (test/e2e/start.test.ts).
  chromium: { command: "chromium", apt: "chromium" },
} as const satisfies Record<string, Tool>;

/**
 * Where to look besides PATH: Debian installs mosquitto in /usr/sbin, which is not on an
 * ordinary user's PATH; Homebrew installs it in its own sbin.
 */
const EXTRA_DIRS = ["/usr/sbin", "/usr/local/sbin", "/sbin", "/opt/homebrew/sbin", "/opt/homebrew/bin"];

export function searchDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  const fromPath = (env.PATH ?? "").split(delimiter).filter(Boolean);
  return [...new Set([...fromPath, ...EXTRA_DIRS])];
}

/** The full path of an executable `command` in `dirs`, or undefined. */
export function findExecutable(command: string, dirs: string[] = searchDirs()): string | undefined {
  for (const dir of dirs) {
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * The one line a developer reads when a program is missing: which ones, and the
 * command that installs everything `npm test` needs on their platform.
 */
export function missingToolsLine(missing: Tool[], platform: NodeJS.Platform = process.platform): string {
  const names = missing.map((tool) => tool.command).join(", ");
  const all = Object.values(TOOLS) as Tool[];
  const apt = `sudo apt-get install ${all.map((tool) => tool.apt).join(" ")}`;
  const brew = `brew install ${all.flatMap((tool) => (tool.brew ? [tool.brew] : [])).join(" ")}`;
  const install = platform === "darwin" ? `${brew} (macOS)` : `${apt} (Debian/Ubuntu), or ${brew} (macOS)`;
  return `npm test needs ${names}, not found on PATH or in /usr/sbin: ${install}`;
}

/**
 * Finds every tool or stops the run before any test starts, with one line instead of
 * a wall of connection errors (issue 13). Returns the full paths, by command.
 */
export function requireTools(tools: Tool[]): Map<string, string> {
  const found = new Map<string, string>();
  const missing: Tool[] = [];
  for (const tool of tools) {
    const path = findExecutable(tool.command);
    if (path) found.set(tool.command, path);
    else missing.push(tool);
  }
  if (missing.length > 0) {
    process.stderr.write(`\n${missingToolsLine(missing)}\n`);
    // Exit rather than throw: vitest would wrap a thrown error in an "Unhandled Error" banner.
    process.exit(1);
  }
  return found;
}
