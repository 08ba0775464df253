/**
 * vitest global setup of the "quiet" project under `npm test` (scripts/test.sh): the quiet
 * files must run with nothing of ours beside them, so they wait for both lanes to finish.
 * Their vitest starts with the lanes (its start-up and the private services are ~3 s of the
 * run, no longer after the lanes) and waits here, before any test file is loaded, until
 * scripts/test.sh creates the file TETHER_QUIET_GATE names. Unset (`npx vitest run`, or
 * `npm test -- <files>`): no wait.
 */
import { existsSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

export const QUIET_GATE_ENV = "TETHER_QUIET_GATE";
/** Bound on the wait: far beyond any run (the lanes take ~1.5 min); then the quiet files fail. */
const GATE_TIMEOUT_MS = 30 * 60_000;
const POLL_MS = 100;

export default async function waitForQuietGate(): Promise<void> {
  const gate = process.env[QUIET_GATE_ENV];
  if (!gate) return;
  const deadline = Date.now() + GATE_TIMEOUT_MS;
  while (!existsSync(gate)) {
    if (Date.now() > deadline) {
      throw new Error(`${QUIET_GATE_ENV}: ${gate} did not appear within ${GATE_TIMEOUT_MS / 60_000} min`);
    }
    await sleep(POLL_MS);
  }
}
