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
import { CHURN_TEST_TIMEOUT_MS, HARNESS, heapReturnedToBaseline } from "./churn-size.js";
import { describeResult, type HarnessResult, runLeakHarness } from "./harness.js";
import { startLeakingTarget } from "./target.js";

describe("after thousands of churned connections", () => {
  it(
    "the same harness catches a broker that keeps one object per connection",
    async () => {
      const target = await startLeakingTarget();
      let result: HarnessResult;
      try {
        result = await runLeakHarness(target, { ...HARNESS, label: "leaking" });
        console.log(describeResult("leaking variant", result));
        expect(target.kept()).toBeGreaterThan(result.connections);
        // The leak hides from the broker's own counts: only the heap shows it.
        expect(result.finalStats).toMatchObject({ clients: 0, persistentSessions: 0, pendingCommands: 0 });
      } finally {
        await target.close();
      }
      expect(heapReturnedToBaseline(result)).toBe(false);
      expect(result.growth / result.connections).toBeGreaterThan(1024);
    },
    CHURN_TEST_TIMEOUT_MS,
  );
});
