/**
 * Issue 6, "In npm test": thousands of connect/subscribe/command/disconnect
 * cycles — takeovers, commands that time out, queued commands to offline
 * persistent sessions, half-open sockets found by keepalive, resets, sockets
 * that never send CONNECT — then sessions expire (injected clock) and are
 * reaped. The heap must return to baseline and the broker's live counts to
 * zero. The same harness must catch a broker that keeps one object per
 * connection, or it proves nothing.
 */
import { describe, expect, it } from "vitest";
import { CHURN_TEST_TIMEOUT_MS, expectedOutcomes, HARNESS, HEAP_MARGIN_BYTES } from "./churn-size.js";
import { describeResult, type HarnessResult, kib, runLeakHarness } from "./harness.js";
import { startTetherTarget } from "./target.js";

describe("after thousands of churned connections", () => {
  it(
    "the broker's heap returns to baseline and its live counts to zero",
    async () => {
      const target = await startTetherTarget();
      let result: HarnessResult;
      try {
        const idle = await target.broker.stats();
        result = await runLeakHarness(target, { ...HARNESS, label: "sound" });
        console.log(describeResult("sound broker", result));
        // Every kind of churn really happened, with the answers the contract gives.
        expect(result.outcomes).toEqual(expectedOutcomes(HARNESS.rounds));
        expect(result.finalStats).toEqual({
          clients: 0,
          persistentSessions: 0,
          pendingCommands: 0,
          forwarderQueue: 0,
          // The reaper's and the queued-command expiry sweep's intervals are the only timers of an idle broker.
          timers: idle.timers,
        });
      } finally {
        await target.close();
      }
      expect(result.growth, `heap grew ${kib(result.growth)}`).toBeLessThanOrEqual(HEAP_MARGIN_BYTES);
    },
    CHURN_TEST_TIMEOUT_MS,
  );
});
