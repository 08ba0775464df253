import { z } from "zod";
import { isDeviceId } from "../../../protocol/src/index.js";
import type { ClientKind } from "../auth/client-token.js";

/**
 * The request the Worker sends to a DeviceChannel to open a socket, after it has
 * checked the client's token. Only the Worker can reach the object, so these
 * headers are trusted there; the Worker builds them fresh, never copying a client's.
 */
const HEADER = {
  device: "tether-device-id",
  kind: "tether-client-kind",
  user: "tether-client-user",
  subprotocol: "tether-subprotocol",
  exp: "tether-token-exp",
  iat: "tether-token-iat",
  mayCommand: "tether-may-command",
} as const;

export interface ConnectRequest {
  deviceId: string;
  kind: ClientKind;
  user: string;
  /** Subprotocol to echo in the 101 answer, or null. */
  subprotocol: string | null;
  /** The token's `exp` and `iat` (unix seconds; `iat` null when absent). */
  exp: number;
  iat: number | null;
  /** The token's `cmd` covers this device. */
  mayCommand: boolean;
}

export function buildConnectRequest(connect: ConnectRequest): Request {
  const headers = new Headers({
    upgrade: "websocket",
    [HEADER.device]: connect.deviceId,
    [HEADER.kind]: connect.kind,
    [HEADER.user]: connect.user,
    [HEADER.exp]: String(connect.exp),
    [HEADER.mayCommand]: String(connect.mayCommand),
  });
  if (connect.subprotocol) headers.set(HEADER.subprotocol, connect.subprotocol);
  if (connect.iat !== null) headers.set(HEADER.iat, String(connect.iat));
  return new Request("https://device-channel/connect", { headers });
}

/** Unix seconds as the Worker wrote them (a JWT NumericDate may have a fraction). */
const seconds = z
  .string()
  .regex(/^\d{1,15}(\.\d+)?$/)
  .transform(Number);

const ConnectHeadersSchema = z.object({
  deviceId: z.string().refine(isDeviceId),
  kind: z.enum(["mobile", "web"]),
  user: z.string().min(1).max(200),
  subprotocol: z.string().nullable(),
  exp: seconds,
  iat: seconds.nullable(),
  mayCommand: z.enum(["true", "false"]).transform((value) => value === "true"),
});

export function parseConnectRequest(request: Request): ConnectRequest | null {
  const parsed = ConnectHeadersSchema.safeParse({
    deviceId: request.headers.get(HEADER.device),
    kind: request.headers.get(HEADER.kind),
    user: request.headers.get(HEADER.user),
    subprotocol: request.headers.get(HEADER.subprotocol),
    exp: request.headers.get(HEADER.exp),
    iat: request.headers.get(HEADER.iat),
    mayCommand: request.headers.get(HEADER.mayCommand),
  });
  return parsed.success ? parsed.data : null;
}
