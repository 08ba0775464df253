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
} as const;

export interface ConnectRequest {
  deviceId: string;
  kind: ClientKind;
  user: string;
  /** Subprotocol to echo in the 101 answer, or null. */
  subprotocol: string | null;
}

export function buildConnectRequest(connect: ConnectRequest): Request {
  const headers = new Headers({
    upgrade: "websocket",
    [HEADER.device]: connect.deviceId,
    [HEADER.kind]: connect.kind,
    [HEADER.user]: connect.user,
  });
  if (connect.subprotocol) headers.set(HEADER.subprotocol, connect.subprotocol);
  return new Request("https://device-channel/connect", { headers });
}

const ConnectHeadersSchema = z.object({
  deviceId: z.string().refine(isDeviceId),
  kind: z.enum(["mobile", "web"]),
  user: z.string().min(1).max(200),
  subprotocol: z.string().nullable(),
});

export function parseConnectRequest(request: Request): ConnectRequest | null {
  const parsed = ConnectHeadersSchema.safeParse({
    deviceId: request.headers.get(HEADER.device),
    kind: request.headers.get(HEADER.kind),
    user: request.headers.get(HEADER.user),
    subprotocol: request.headers.get(HEADER.subprotocol),
  });
  return parsed.success ? parsed.data : null;
}
