import {
  type CommandResult,
  ErrorCode,
  isRecord,
  parseCommandResult,
  parseJson,
  TetherError,
} from "../../protocol/src/index.js";
import { type BrokerAnswer, sendCommandToBroker } from "./broker-client.js";
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

/** The status record must never cost Rails its answer: a failure is logged and the command goes on. */
async function record(what: string, write: () => Promise<unknown>): Promise<void> {
  try {
    await write();
  } catch (error) {
    console.error("edge: could not record a command's status", { what, error: String(error) });
  }
}

/**
 * Sends a Rails command to the broker under an id the edge picks (so the command is
 * `pending` in the device's channel before the broker answers), then records the
 * answer: `queued` after a 202, else the final result (issue 12). A queued command's
 * end arrives later as a `command_result` event, which the channel records too.
 * Rails reads it all at `GET /v1/devices/{id}/commands/{commandId}`.
 */
export async function sendTrackedCommand(
  env: EdgeEnv,
  deviceId: string,
  body: CommandBody,
): Promise<BrokerAnswer> {
  const commandId = crypto.randomUUID();
  const channel = env.DEVICE_CHANNEL.getByName(deviceId);
  await record("pending", () => channel.commandSent(deviceId, commandId));
  let answer: BrokerAnswer;
  try {
    answer = await sendCommandToBroker(env, deviceId, { ...body, id: commandId });
  } catch (error) {
    if (error instanceof TetherError) {
      const failed: CommandResult = {
        id: commandId,
        ok: false,
        error: { code: error.code, message: error.message },
      };
      await record("unreachable", () => channel.commandAnswered(deviceId, commandId, failed));
    }
    throw error;
  }
  await record("answer", () => channel.commandAnswered(deviceId, commandId, statusOf(commandId, answer)));
  return answer;
}
