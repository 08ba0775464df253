/**
 * Node/V8 flags the broker runs with wherever we start it: `npm run broker` (package.json),
 * the systemd unit (README.md), `npm start` (scripts/lib/system.ts), the soak and the bench.
 *
 * `--max-semi-space-size=1`: V8's young generation grows to 3 × 16 MB semi-spaces on 64-bit
 * Node 20 under allocation pressure (a fleet connecting), and an idle broker keeps those pages.
 * The broker's live state is old-generation objects (sessions, sockets, subscriptions); its
 * young objects are per-packet garbage, which dies as well in 1 MB. Measured with
 * `npm run bench -- --operator-only` at 15,000 idle routers (docs/BENCHMARKS.md, issue 14):
 * VmRSS with no connections 140–148 → 104–117 MB, with the routers 318–385 → 284–322 MB;
 * more scavenges cost some CPU per CONNECT (within the run-to-run noise of this machine).
 * (Issue 14 measured 394 → 292 MB at 18,000 routers.)
 */
export const BROKER_NODE_FLAGS: readonly string[] = ["--max-semi-space-size=1"];
