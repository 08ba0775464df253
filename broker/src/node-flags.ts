/**
 * Node/V8 flags the broker runs with wherever we start it: `npm run broker` (package.json),
 * the systemd unit (README.md), `npm start` (scripts/lib/system.ts), the soak and the bench.
 *
 * `--max-semi-space-size=8` (issue 14, 2026-11-30; it was 4): once a CONNECT with nothing
 * queued stopped building Aedes's empty pipeline, 4 MB semi-spaces no longer saved memory per
 * router and cost CPU per CONNECT in scavenges. `npm run bench -- --operator-only --only tether
 * --rounds 2` with `BENCH_NODE_ARGS_TETHER=--max-semi-space-size=N`, alternated, 15,000 routers:
 * CPU per connecting router 4: 356–478 µs (6 rounds), 8: 322–369 (4), 16: 301–407 (6); KB per
 * idle router 4: 5.9–7.5, 8: 5.4–6.1, 16: 6.0–6.8; VmRSS before the routers 4: 144–152 MB,
 * 8: 154–159, 16: 160–168. 8 keeps most of 16's CPU at a third of its fixed cost.
 *
 * Earlier, with 4: V8's young generation grows to 16 MB semi-spaces on 64-bit
 * Node 20 under allocation pressure (a fleet connecting), and an idle broker keeps those
 * pages. The broker's live state is old-generation objects (sessions, sockets,
 * subscriptions); its young objects are per-packet garbage. Measured with
 * `npm run bench -- --operator-only` at 15,000 idle routers (docs/BENCHMARKS.md, "What an
 * operator sees"): VmRSS with no connections 140–148 → 122–126 MB, with the routers
 * 331–360 → 294–296 MB, below bare Aedes's in the same runs.
 * Why 4 and not 1 (issue 14 measured 394 → 292 MB at 18,000 routers with 1): with 1 MB
 * semi-spaces, the ~1.4 MB of objects a 60 KiB JSON event parses into are promoted
 * before they die, and the old generation swells with garbage until the next full GC —
 * test/e2e/nothing-lost.test.ts saw the heap grow 110 MiB (limit 64) during an edge
 * outage, against 21 MiB with 4 and 30 MiB with Node's default. 1 MB also cost more CPU
 * per CONNECT (more scavenges).
 */
export const BROKER_NODE_FLAGS: readonly string[] = ["--max-semi-space-size=8"];
