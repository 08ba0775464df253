import type { Logger } from "pino";
import type { BrokerLogs } from "../context.js";
import { ThrottledLog } from "./throttled-log.js";

/** The broker's rate-limited logs, one line per key per `intervalMs`. */
export function createBrokerLogs(logger: Logger, intervalMs: number): BrokerLogs & { close(): void } {
  const refusals = new ThrottledLog({ logger, intervalMs, msg: "refused" });
  const invalid = new ThrottledLog({ logger, intervalMs, msg: "invalid payload dropped" });
  const notices = new ThrottledLog({ logger, intervalMs, msg: "notice", level: "info", keyField: "kind" });
  return {
    refusals,
    invalid,
    notices,
    close() {
      refusals.close();
      invalid.close();
      notices.close();
    },
  };
}
