/**
 * The broker as operators run it: plain JavaScript built by scripts/build-broker.mjs into
 * dist/broker/cli.js (issue 14, "Reconnect storm"), started with its Node flags. `npm start`,
 * the soak and the bench's storm start it through here; `npm run broker` and the README's
 * systemd unit by the same command in text.
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { BROKER_NODE_FLAGS } from "../../broker/src/node-flags.js";

const BUILD_SCRIPT = fileURLToPath(new URL("../build-broker.mjs", import.meta.url));
export const BROKER_ENTRY = fileURLToPath(new URL("../../dist/broker/cli.js", import.meta.url));

/**
 * Builds dist/broker when it is missing or older than its sources (`--if-stale`: a few stat
 * calls when current, esbuild's ~100 ms when not). Synchronous: callers start the broker next.
 * What it built, if anything, goes to stderr in one line.
 */
export function ensureBrokerBuilt(): string {
  execFileSync(process.execPath, [BUILD_SCRIPT, "--if-stale"], { stdio: ["ignore", "ignore", "inherit"] });
  return BROKER_ENTRY;
}

/**
 * `node` arguments that start the built broker, built first when stale; `ensureBuilt: false`
 * skips the check (a restart right after a start, timed as systemd would restart it).
 */
export function brokerNodeArgs({ ensureBuilt = true } = {}): string[] {
  return [...BROKER_NODE_FLAGS, ensureBuilt ? ensureBrokerBuilt() : BROKER_ENTRY];
}
