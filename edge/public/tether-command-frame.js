// @ts-check
/**
 * The client → server `command` frame, checked before it is sent: a name of the
 * contract's alphabet, a timeout within 100..60000 ms, params that are JSON.
 */
import { TetherClientError } from "./tether-client-error.js";
import { isCommandName } from "./tether-frames.js";

/**
 * @example const encoded = encodeCommandFrame(crypto.randomUUID(), "reboot", { delayS: 5 }, 5000);
 * @param {string} id
 * @param {string} name
 * @param {unknown} params
 * @param {number | undefined} timeoutMs
 * @returns {{ ok: true, text: string } | { ok: false, error: TetherClientError }}
 */
export function encodeCommandFrame(id, name, params, timeoutMs) {
  /** @param {string} message @param {unknown} [cause] */
  const invalid = (message, cause) => ({
    ok: /** @type {const} */ (false),
    error: new TetherClientError("invalid_request", message, { cause }),
  });
  if (!isCommandName(name)) return invalid("command name must match [A-Za-z0-9_.-]{1,64}");
  if (timeoutMs !== undefined && !(Number.isInteger(timeoutMs) && timeoutMs >= 100 && timeoutMs <= 60_000)) {
    return invalid("timeoutMs must be an integer in 100..60000 (the contract's range)");
  }
  try {
    return { ok: true, text: JSON.stringify({ type: "command", id, name, params, timeoutMs }) };
  } catch (cause) {
    return invalid("params are not JSON", cause);
  }
}
