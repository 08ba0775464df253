import { bearer, COMMAND_LIMITS, ErrorCode, TetherError } from "../../protocol/src/index.js";
import type { EdgeEnv } from "./env.js";
import { requireSecret } from "./http-errors.js";
import { BROKER_GRACE_MS } from "./limits.js";
import type { CommandBody } from "./schemas.js";

/** The broker's answer as received: its status and raw body, passed through by the Rails route. */
export interface BrokerAnswer {
  status: number;
  contentType: string;
  body: string;
}

function commandsUrl(brokerUrl: string, deviceId: string): string {
  // Plain concatenation keeps a path prefix in BROKER_URL (e.g. behind a proxy).
  return `${brokerUrl.replace(/\/+$/, "")}/v1/devices/${deviceId}/commands`;
}

/**
 * Sends one command to the broker's HTTP API. Throws `broker_unavailable` (502)
 * when the broker cannot be reached or does not answer within the command's own
 * timeout plus a grace period; any answer the broker gives is returned as is.
 */
export async function sendCommandToBroker(
  env: EdgeEnv,
  deviceId: string,
  /** With the edge's own command id when it tracks the command (command-tracking.ts). */
  command: CommandBody & { id?: string },
): Promise<BrokerAnswer> {
  const token = requireSecret(env, "BROKER_API_TOKEN");
  if (!env.BROKER_URL) {
    throw new TetherError(ErrorCode.Internal, "edge misconfigured: BROKER_URL is not set", { status: 500 });
  }
  const waitMs = (command.timeoutMs ?? COMMAND_LIMITS.timeoutMs.default) + BROKER_GRACE_MS;
  try {
    const response = await fetch(commandsUrl(env.BROKER_URL, deviceId), {
      method: "POST",
      headers: { authorization: bearer(token), "content-type": "application/json" },
      body: JSON.stringify(command),
      signal: AbortSignal.timeout(waitMs),
    });
    return {
      status: response.status,
      contentType: response.headers.get("content-type") ?? "application/json",
      body: await response.text(),
    };
  } catch (cause) {
    console.warn("edge: broker unreachable", { deviceId, cause: String(cause) });
    throw new TetherError(ErrorCode.BrokerUnavailable, "the broker could not be reached", {
      status: 502,
      cause,
    });
  }
}
