import {
  bearer,
  COMMAND_LIMITS,
  type DesiredDocument,
  ErrorCode,
  isRecord,
  parseJson,
  RETRY_AFTER_HEADER,
  TetherError,
} from "../../protocol/src/index.js";
import type { EdgeEnv } from "./env.js";
import { requireSecret } from "./http-errors.js";
import { BROKER_GRACE_MS } from "./limits.js";
import type { CommandBody } from "./schemas.js";

/** The broker's answer as received: its status and raw body, passed through by the Rails route. */
export interface BrokerAnswer {
  status: number;
  contentType: string;
  body: string;
  /** The broker's `Retry-After` (its 429s and 503s), passed through to Rails unchanged. */
  retryAfter: string | null;
}

type BrokerAction = "commands" | "revoke" | "desired";

function deviceUrl(brokerUrl: string, deviceId: string, action: BrokerAction): string {
  // Plain concatenation keeps a path prefix in BROKER_URL (e.g. behind a proxy).
  return `${brokerUrl.replace(/\/+$/, "")}/v1/devices/${deviceId}/${action}`;
}

/** How long the edge waits for the broker to revoke (or lift a revocation of) a device. */
const REVOKE_WAIT_MS = 10_000;

/**
 * Sends one command to the broker's HTTP API. Throws `broker_unavailable` (502)
 * when the broker cannot be reached, does not answer within the command's own
 * timeout plus a grace period, or refuses the edge's token (401/403); any other
 * answer the broker gives is returned as is.
 */
export function sendCommandToBroker(
  env: EdgeEnv,
  deviceId: string,
  /** With the edge's own command id when it tracks the command (command-tracking.ts). */
  command: CommandBody & { id?: string },
): Promise<BrokerAnswer> {
  const waitMs = (command.timeoutMs ?? COMMAND_LIMITS.timeoutMs.default) + BROKER_GRACE_MS;
  return callBroker(env, deviceId, {
    method: "POST",
    action: "commands",
    body: JSON.stringify(command),
    waitMs,
  });
}

/**
 * Revokes a device on the broker (POST), or lifts its revocation (DELETE): the
 * broker disconnects it on every node and refuses it until lifted. Same failure
 * rule as commands: unreachable → `broker_unavailable` (502), any answer as is.
 */
export function revokeOnBroker(
  env: EdgeEnv,
  deviceId: string,
  method: "POST" | "DELETE",
): Promise<BrokerAnswer> {
  return callBroker(env, deviceId, { method, action: "revoke", waitMs: REVOKE_WAIT_MS });
}

/** How long the DeviceChannel waits for the broker to take a desired document (then it retries). */
const DESIRED_WAIT_MS = 10_000;

/**
 * Hands a device's latest desired document to the broker (`PUT /v1/devices/{id}/desired`,
 * issue 15), which keeps the latest and delivers it. Same failure rule: unreachable →
 * `broker_unavailable`, any answer as is (the DeviceChannel retries what is not a 200).
 */
export function putDesiredOnBroker(
  env: EdgeEnv,
  deviceId: string,
  document: DesiredDocument,
): Promise<BrokerAnswer> {
  return callBroker(env, deviceId, {
    method: "PUT",
    action: "desired",
    body: JSON.stringify(document),
    waitMs: DESIRED_WAIT_MS,
  });
}

async function callBroker(
  env: EdgeEnv,
  deviceId: string,
  call: { method: "POST" | "DELETE" | "PUT"; action: BrokerAction; body?: string; waitMs: number },
): Promise<BrokerAnswer> {
  const token = requireSecret(env, "BROKER_API_TOKEN");
  if (!env.BROKER_URL) {
    throw new TetherError(ErrorCode.Internal, "edge misconfigured: BROKER_URL is not set", { status: 500 });
  }
  let response: Response;
  let body: string;
  try {
    response = await fetch(deviceUrl(env.BROKER_URL, deviceId, call.action), {
      method: call.method,
      headers: {
        authorization: bearer(token),
        ...(call.body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(call.body === undefined ? {} : { body: call.body }),
      signal: AbortSignal.timeout(call.waitMs),
    });
    body = await response.text();
  } catch (cause) {
    // A wait that ran out is not an unreachable broker: the operator looks at the broker's (or
    // this edge's own) load, not at the network. Same code either way (the contract's 502).
    const timedOut = cause instanceof DOMException && cause.name === "TimeoutError";
    console.warn(timedOut ? "edge: broker silent past the wait" : "edge: broker unreachable", {
      deviceId,
      cause: String(cause),
    });
    const message = timedOut
      ? `the broker did not answer within ${call.waitMs} ms`
      : "the broker could not be reached";
    throw new TetherError(ErrorCode.BrokerUnavailable, message, { status: 502, cause });
  }
  if (response.status === 401 || (response.status === 403 && !isRevokedAnswer(body))) {
    // The broker refused the edge's own BROKER_API_TOKEN: an edge misconfiguration,
    // not Rails' fault, so Rails must never see it as its own 401.
    console.error("edge: the broker refused BROKER_API_TOKEN", { deviceId, status: response.status });
    throw new TetherError(ErrorCode.BrokerUnavailable, "the broker refused the edge's credentials", {
      status: 502,
    });
  }
  return {
    status: response.status,
    contentType: response.headers.get("content-type") ?? "application/json",
    body,
    retryAfter: response.headers.get(RETRY_AFTER_HEADER),
  };
}

/** `403 revoked` is the broker's answer about the device (pass it through), not about the edge's token. */
function isRevokedAnswer(body: string): boolean {
  const json = parseJson(body);
  if (!json.ok || !isRecord(json.value) || !isRecord(json.value.error)) return false;
  return json.value.error.code === ErrorCode.Revoked;
}
