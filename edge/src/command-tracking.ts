import {
  type CommandResult,
  ErrorCode,
  isRecord,
  parseCommandResult,
  parseJson,
  TetherError,
} from "../../protocol/src/index.js";
import { type BrokerAnswer, sendCommandToBroker } from "./broker-client.js";
import type { CommandLog } from "./channel/command-log.js";
import type { EdgeEnv } from "./env.js";
import { type CommandBody, ErrorBodySchema } from "./schemas.js";

/** What a broker answer means for the command's status: queued until, or a final result. */
function statusOf(commandId: string, answer: BrokerAnswer): { expiresAt: number } | CommandResult {
  const json = parseJson(answer.body);
  const body = json.ok ? json.value : null;
  if (answer.status === 200) {
    const result = parseCommandResult(body);
    if (result.ok) return result.value;
  }
  if (answer.status === 202 && isRecord(body) && typeof body.expiresAt === "number") {
    return { expiresAt: body.expiresAt };
  }
  const error = ErrorBodySchema.safeParse(body);
  if (error.success) return { id: commandId, ok: false, error: error.data.error };
  return {
    id: commandId,
    ok: false,
    error: {
      code: ErrorCode.BrokerUnavailable,
      message: `the broker answered ${answer.status} without a usable body`,
    },
  };
}

/** What the DeviceChannel answers the Worker: the broker's answer, or the error to throw (RPC drops classes). */
export type TrackedAnswer =
  | { answer: BrokerAnswer }
  | { error: { code: string; message: string; status: number } };

/** The status record must never cost Rails its answer: a failure is logged and the command goes on. */
function record(what: string, write: () => void): void {
  try {
    write();
  } catch (error) {
    console.error("edge: could not record a command's status", { what, error: String(error) });
  }
}

/**
 * Sends a Rails command to the broker under an id the edge picks (so the command is
 * `pending` in the device's channel before the broker answers), then records the
 * answer: `queued` after a 202, else the final result (issue 12). A queued command's
 * end arrives later as a `command_result` event, which the channel records too.
 * Rails reads it all at `GET /v1/devices/{id}/commands/{commandId}`. Runs inside the
 * device's DeviceChannel (`railsCommand`), so a command costs the Worker one Durable
 * Object call, not one before and one after the broker (docs/EDGE.md, issue 17).
 */
export async function sendTrackedCommand(
  env: EdgeEnv,
  deviceId: string,
  body: CommandBody,
  log: CommandLog,
  now: () => number,
): Promise<TrackedAnswer> {
  const commandId = crypto.randomUUID();
  record("pending", () => log.pending(commandId, now()));
  let answer: BrokerAnswer;
  try {
    answer = await sendCommandToBroker(env, deviceId, { ...body, id: commandId });
  } catch (error) {
    if (!(error instanceof TetherError)) throw error;
    const failed: CommandResult = {
      id: commandId,
      ok: false,
      error: { code: error.code, message: error.message },
    };
    record("unreachable", () => log.done(failed, now(), false));
    return { error: { code: error.code, message: error.message, status: error.status } };
  }
  const status = statusOf(commandId, answer);
  record("answer", () => {
    if ("expiresAt" in status) log.queued(commandId, status.expiresAt, now());
    else log.done({ ...status, id: commandId }, now(), false);
  });
  return { answer };
}

/** The Worker's side: one call to the device's channel; its error thrown as the TetherError it was. */
export async function sendCommandThroughChannel(
  env: EdgeEnv,
  deviceId: string,
  body: CommandBody,
): Promise<BrokerAnswer> {
  const tracked = await env.DEVICE_CHANNEL.getByName(deviceId).railsCommand(deviceId, body);
  if ("error" in tracked) {
    throw new TetherError(tracked.error.code, tracked.error.message, { status: tracked.error.status });
  }
  return tracked.answer;
}
