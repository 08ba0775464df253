import {
  type CommandResult,
  ErrorCode,
  isRecord,
  parseCommandResult,
  parseJson,
} from "../../../protocol/src/index.js";
import type { BrokerAnswer } from "../broker-client.js";
import { ErrorBodySchema } from "../schemas.js";
import type { Final } from "./job-store.js";

/** A transient refusal: the command is sent again later (at most MAX_ATTEMPTS times in all). */
export interface Retry {
  retry: true;
  error: { code: string; message: string };
}

/** Sends of one target before a transient refusal becomes its `failed` outcome. */
export const MAX_ATTEMPTS = 5;

function errorOf(body: unknown, status: number): { code: string; message: string } {
  const parsed = ErrorBodySchema.safeParse(body);
  if (parsed.success) return parsed.data.error;
  return {
    code: ErrorCode.BrokerUnavailable,
    message: `the broker answered ${status} without a usable body`,
  };
}

/** What the broker's answer to a job's command means for that router. */
export function outcomeOfAnswer(answer: BrokerAnswer): Final | Retry {
  const json = parseJson(answer.body);
  const body = json.ok ? json.value : null;
  if (answer.status === 200) {
    const result = parseCommandResult(body);
    if (result.ok) return outcomeOfResult(result.value);
  }
  if (answer.status === 202 && isRecord(body) && typeof body.expiresAt === "number") {
    return { state: "queued", expiresAt: body.expiresAt };
  }
  const error = errorOf(body, answer.status);
  if (answer.status === 504) return { state: "timed_out", error };
  if (answer.status === 409 && error.code === ErrorCode.DeviceOffline) return { state: "offline", error };
  // The broker sheds load, or still waits for the same command id sent before a restart.
  const stillPending = answer.status === 400 && /pending/.test(error.message);
  // 502: the broker was unreachable from the device's object (channel-hooks.ts).
  const transient = answer.status === 429 || answer.status === 502 || answer.status === 503;
  if (transient || stillPending) return { retry: true, error };
  return { state: "failed", error };
}

/** The call itself failed (the device's object could not be reached): sent again later. */
export function outcomeOfError(error: unknown): Retry {
  return { retry: true, error: { code: ErrorCode.Internal, message: String(error) } };
}

/**
 * A router's result — from the broker's 200, or a queued command's later
 * `command_result` event. A queued command that expired, or whose session was
 * reaped, never reached the router: `offline`.
 */
export function outcomeOfResult(result: CommandResult): Final {
  if (result.ok) return { state: "succeeded", result: result.result };
  const code = result.error.code;
  if (code === ErrorCode.CommandExpired || code === ErrorCode.SessionExpired) {
    return { state: "offline", error: result.error };
  }
  if (code === ErrorCode.Timeout || code === ErrorCode.HandlerTimeout)
    return { state: "timed_out", error: result.error };
  return { state: "failed", error: result.error };
}
