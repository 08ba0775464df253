import { ErrorCode, parseCommandResult, parseJson, TetherError } from "../../../protocol/src/index.js";
import { sendCommandToBroker } from "../broker-client.js";
import type { EdgeEnv } from "../env.js";
import { type CommandFrame, ErrorBodySchema } from "../schemas.js";
import { type CommandResultFrame, failedResult } from "./frames.js";

/**
 * Forwards a client's `command` frame to the broker and turns every outcome into
 * one `command_result` frame carrying the frame's id, so a client always gets
 * exactly one answer per command: the device's result as is, or `ok: false` with
 * the broker's error (`device_offline` 409, `timeout` 504, `rate_limited` 429, …)
 * or `broker_unavailable` when the broker cannot be reached.
 */
export async function relayCommand(
  env: EdgeEnv,
  deviceId: string,
  commandId: string,
  frame: CommandFrame,
  now: () => number,
): Promise<CommandResultFrame> {
  const base = { type: "command_result" as const, id: commandId, deviceId };
  const failed = (code: string, message: string) => failedResult(deviceId, commandId, now(), code, message);
  let answer: Awaited<ReturnType<typeof sendCommandToBroker>>;
  try {
    answer = await sendCommandToBroker(env, deviceId, {
      name: frame.name,
      params: frame.params,
      timeoutMs: frame.timeoutMs,
    });
  } catch (error) {
    if (error instanceof TetherError) return failed(error.code, error.message);
    throw error;
  }
  const json = parseJson(answer.body);
  const body = json.ok ? json.value : null;
  if (answer.status === 200) {
    const result = parseCommandResult(body);
    if (result.ok) {
      const r = result.value;
      return r.ok
        ? { ...base, ts: now(), ok: true, result: r.result }
        : { ...base, ts: now(), ok: false, error: r.error };
    }
  }
  const error = ErrorBodySchema.safeParse(body);
  if (error.success) return failed(error.data.error.code, error.data.error.message);
  return failed(ErrorCode.BrokerUnavailable, `the broker answered ${answer.status} without a usable body`);
}
