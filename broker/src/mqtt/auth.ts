import type { AuthenticateError, Client, ConnectPacket } from "aedes";
import { isDeviceId, verifyDevicePassword } from "../../../protocol/src/index.js";
import { type BrokerContext, refuse } from "../context.js";
import type { DeviceConnections } from "./connections.js";

/** CONNACK return codes of MQTT 3.1.1 [MQTT-3.2.2-3]. */
const IDENTIFIER_REJECTED = 2;
const SERVER_UNAVAILABLE = 3;
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;

function authError(returnCode: number, message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

type PreConnectCallback = (error: Error | null, success: boolean) => void;
type AuthenticateCallback = (error: AuthenticateError | null, success: boolean | null) => void;

/**
 * `preConnect`: shapes the CONNECT before Aedes acts on it.
 * - Keepalive 0 (no keepalive) or above MAX_KEEPALIVE_SECONDS is clamped to the
 *   maximum, so Aedes's 1.5× idle timer always runs: a router that never pings
 *   is still found dead. Clamping rather than refusing keeps old firmware online;
 *   any packet from the device resets the timer. [MQTT-3.1.2-24]
 * - A will is dropped: presence is produced by the broker, never by devices
 *   (CONTRACT.md), so no session ever owns a will to reap.
 */
export function createPreConnect(ctx: BrokerContext) {
  const max = ctx.settings.maxKeepaliveSeconds;
  return function preConnect(_client: Client, packet: ConnectPacket, callback: PreConnectCallback): void {
    if (!packet.keepalive || packet.keepalive > max) {
      ctx.logger.debug(
        { clientId: packet.clientId, asked: packet.keepalive, granted: max },
        "keepalive clamped",
      );
      packet.keepalive = max;
    }
    if (packet.will) {
      ctx.logger.debug({ clientId: packet.clientId }, "will ignored: presence comes from the broker");
      packet.will = undefined;
    }
    callback(null, true);
  };
}

/**
 * `authenticate` per CONTRACT.md "Identities and secrets": client id = username =
 * device id, password = base64url(HMAC-SHA256(DEVICE_SECRET, id)) compared in
 * constant time, revoked ids refused. On success the connection claims presence.
 */
export function createAuthenticate(ctx: BrokerContext, connections: DeviceConnections) {
  return function authenticate(
    client: Client,
    username: Readonly<string | undefined>,
    password: Readonly<Buffer | undefined>,
    callback: AuthenticateCallback,
  ): void {
    // The credentials are in hand: the parser need not keep the CONNECT any longer.
    forgetConnectPacket(client);
    check(client, username, password).then(
      (refusal) => callback(refusal, refusal === null),
      (error: unknown) => {
        ctx.logger.error({ err: error, clientId: client.id }, "authentication failed");
        callback(authError(SERVER_UNAVAILABLE, "server unavailable"), false);
      },
    );
  };

  async function check(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
  ): Promise<AuthenticateError | null> {
    const deviceId = client.id;
    const remote = client.conn && "remoteAddress" in client.conn ? client.conn.remoteAddress : undefined;
    const deny = (reason: string, code: number) => {
      refuse(ctx, reason, { clientId: deviceId, remote });
      return authError(code, reason);
    };
    if (!isDeviceId(deviceId)) return deny("bad_client_id", IDENTIFIER_REJECTED);
    if (username !== deviceId) return deny("id_mismatch", BAD_USERNAME_OR_PASSWORD);
    const secret = ctx.settings.deviceSecret;
    if (!password || !(await verifyDevicePassword(secret, deviceId, password.toString("utf8")))) {
      return deny("bad_password", BAD_USERNAME_OR_PASSWORD);
    }
    if (await ctx.store.isRevoked(deviceId)) return deny("revoked", NOT_AUTHORIZED);
    await connections.claim(client);
    return null;
  }
}

/**
 * mqtt-packet's parser keeps the whole CONNECT packet as its `settings` for the life of
 * the connection, though afterwards it reads only `protocolVersion` and `bridgeMode`
 * from it: the device's password Buffer (with its own ArrayBuffer), username and packet
 * stayed in memory per router — ~0.3 KB each, and a credential held for no reason. When
 * authentication starts, the parser is left with only what it reads. Aedes 1.2 /
 * mqtt-packet 9 internals, checked by test/broker/auth-forget.test.ts.
 */
export function forgetConnectPacket(client: Client): void {
  const parser: unknown = Reflect.get(client, "_parser");
  if (typeof parser !== "object" || parser === null) return;
  const settings: unknown = Reflect.get(parser, "settings");
  if (typeof settings !== "object" || settings === null) return;
  Reflect.set(parser, "settings", {
    protocolVersion: Reflect.get(settings, "protocolVersion"),
    bridgeMode: Reflect.get(settings, "bridgeMode"),
  });
}
