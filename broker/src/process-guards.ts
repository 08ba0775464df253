/**
 * What the broker process does with a promise rejected where nothing handles it.
 *
 * Node's default (`--unhandled-rejections=throw`) ends the process, and with it every router's
 * connection: the whole fleet reconnects at once. One was seen in a full test run: ioredis's
 * "Connection is closed." during test/broker/health.test.ts's Redis outage: mqemitter-redis's
 * close() sending QUIT without handling it (now replaced, sessions/redis.ts closeBusHandled);
 * aedes-persistence-redis 11 still fires some `LREM`s without awaiting them (an expired
 * outgoing packet's key, wills). A fire-and-forget cleanup that failed leaves
 * nothing half-done that the broker relies on, so the broker logs it and keeps serving; an
 * uncaught *exception* (a throw in a callback: state unknown) still ends the process.
 * The log is bounded: at most LOG_PER_MINUTE lines a minute, then one line with the count.
 */
export const LOG_PER_MINUTE = 10;

export function keepRunningOnUnhandledRejection(
  write: (line: string) => void,
  now: () => number = Date.now,
): () => void {
  let windowStart = now();
  let logged = 0;
  let suppressed = 0;
  const onRejection = (reason: unknown) => {
    const at = now();
    if (at - windowStart >= 60_000) {
      if (suppressed > 0)
        write(`${suppressed} more unhandled promise rejections in the last minute (not logged)`);
      windowStart = at;
      logged = 0;
      suppressed = 0;
    }
    if (logged >= LOG_PER_MINUTE) {
      suppressed += 1;
      return;
    }
    logged += 1;
    const text = reason instanceof Error ? (reason.stack ?? reason.message) : String(reason);
    write(`unhandled promise rejection (kept running): ${text.slice(0, 2_000)}`);
  };
  process.on("unhandledRejection", onRejection);
  return () => process.off("unhandledRejection", onRejection);
}
