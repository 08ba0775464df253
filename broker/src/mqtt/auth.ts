import type { AuthenticateError, Client, ConnectPacket } from "aedes";
import { isDeviceId } from "../../../protocol/src/index.js";
import { type BrokerContext, type RefusalReason, refuse } from "../context.js";
import type { ConnectionAdmission } from "../limits/admission.js";
import type { PublishRateLimiter } from "../limits/publish-rate.js";
import { clip } from "../logging/clip.js";
import type { DeviceConnections } from "./connections.js";
import { PasswordCheck } from "./password.js";

/** The only protocol the contract speaks: MQTT 3.1.1 (Aedes also accepts 3.1, version 3). */
const MQTT_3_1_1 = 4;

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
  return function preConnect(client: Client, packet: ConnectPacket, callback: PreConnectCallback): void {
    // Aedes answers another version with CONNACK 1 and logs nothing; an MQTT 5 client
    // (mosquitto_pub -V 5, mqtt.js protocolVersion 5) must see why in the broker's log.
    if (packet.protocolVersion !== MQTT_3_1_1 && packet.protocolVersion !== 3) {
      refuse(ctx, "protocol_version", {
        clientId: packet.clientId,
        protocolVersion: packet.protocolVersion,
        remote: remoteOf(client),
        expected: "MQTT 3.1.1 (protocol version 4)",
      });
    }
    if (!packet.keepalive || packet.keepalive > max) {
      ctx.logger.debug(
        { clientId: clip(packet.clientId), asked: packet.keepalive, granted: max },
        "keepalive clamped",
      );
      packet.keepalive = max;
    }
    if (packet.will) {
      ctx.logger.debug({ clientId: clip(packet.clientId) }, "will ignored: presence comes from the broker");
      packet.will = undefined;
    }
    callback(null, true);
  };
}

/** The client closed its socket (FIN read, or destroyed), or Aedes already closed the client. */
function gaveUp(client: Client): boolean {
  const conn: unknown = client.conn;
  return (
    client.closed ||
    (typeof conn === "object" &&
      conn !== null &&
      (Reflect.get(conn, "destroyed") === true || Reflect.get(conn, "readableEnded") === true))
  );
}

function remoteOf(client: Client): string | undefined {
  const address: unknown = client.conn ? Reflect.get(client.conn, "remoteAddress") : undefined;
  return typeof address === "string" ? address : undefined;
}

/** What authenticate consults besides the credentials. */
export interface AuthenticateGuards {
  admission: ConnectionAdmission;
  publishLimiter: PublishRateLimiter;
}

/**
 * Refused CONNECTs that use up the address's failed-CONNECT bucket: wrong
 * credentials, and a device that keeps coming back while revoked or in its flood
 * cool-down (an honest router's SDK backs off; a loop that does not is cut at
 * the socket).
 */
const COUNTED_FAILURES: ReadonlySet<RefusalReason> = new Set([
  "bad_client_id",
  "missing_username",
  "id_mismatch",
  "bad_password",
  "revoked",
  "flood_cooldown",
]);

/**
 * `authenticate` per CONTRACT.md "Identities and secrets": client id = username =
 * device id, password = base64url(HMAC-SHA256(DEVICE_SECRET, id)) — or, while the
 * fleet secret is rotated, DEVICE_SECRET_PREVIOUS — compared in constant time;
 * revoked ids, addresses in an auth-failure cool-down and devices in a flood
 * cool-down are refused. On success the connection claims presence.
 */
export function createAuthenticate(
  ctx: BrokerContext,
  connections: DeviceConnections,
  guards: AuthenticateGuards,
) {
  const current = new PasswordCheck(ctx.settings.deviceSecret);
  const previous = ctx.settings.deviceSecretPrevious
    ? new PasswordCheck(ctx.settings.deviceSecretPrevious)
    : null;
  return function authenticate(
    client: Client,
    username: Readonly<string | undefined>,
    password: Readonly<Buffer | undefined>,
    callback: AuthenticateCallback,
  ): void {
    // The credentials are in hand: the parser need not keep the CONNECT any longer.
    forgetConnectPacket(client);
    const secret = checkCredentials(client, username, password);
    if (typeof secret !== "string") {
      callback(secret, false);
      return;
    }
    // One turn of the event loop before the decision, so that a FIN already waiting behind
    // the CONNECT is read first (see `decide`). Memory mode needs no promise (issue 14);
    // Redis mode asks the shared revocation set first.
    const { store } = ctx;
    if (store.isRevokedNow) {
      setImmediate(decide, client, secret, null, callback);
      return;
    }
    store.isRevoked(client.id).then(
      (revoked) => setImmediate(decide, client, secret, revoked, callback),
      (error: unknown) => failed(client, error, callback),
    );
  };

  /** The fleet secret the password derives from, or the refusal. */
  function checkCredentials(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
  ): "current" | "previous" | AuthenticateError {
    const deviceId = client.id;
    if (guards.admission.coolingDown(client.conn))
      return deny(client, "address_cooldown", SERVER_UNAVAILABLE);
    if (!isDeviceId(deviceId)) return deny(client, "bad_client_id", IDENTIFIER_REJECTED);
    if (username === undefined || username === "")
      return deny(client, "missing_username", BAD_USERNAME_OR_PASSWORD);
    if (username !== deviceId) return deny(client, "id_mismatch", BAD_USERNAME_OR_PASSWORD);
    return matchingSecret(deviceId, password) ?? deny(client, "bad_password", BAD_USERNAME_OR_PASSWORD);
  }

  /**
   * The point of no return: presence is claimed, and Aedes then takes over any other
   * connection with this id [MQTT-3.1.4-2]. A client that already gave up on this CONNECT
   * (the SDK's connect timeout while it waited in the accept backlog or was authenticated:
   * its FIN came with it or behind it) must not drop the router's newer, live connection.
   * `revoked` is null where the store answers synchronously (memory mode): it is asked here,
   * in the same turn as the claim, so no revocation lands between the two.
   */
  function decide(
    client: Client,
    secret: "current" | "previous",
    revoked: boolean | null,
    callback: AuthenticateCallback,
  ): void {
    if (gaveUp(client)) {
      // Aedes ignores the answer for a closed client; this counts it.
      callback(deny(client, "connect_abandoned", SERVER_UNAVAILABLE), false);
      return;
    }
    // Fails closed: no answer at all counts as revoked.
    if ((revoked ?? ctx.store.isRevokedNow?.(client.id)) !== false) {
      callback(deny(client, "revoked", NOT_AUTHORIZED), false);
      return;
    }
    // "Server unavailable": the device's SDK retries with backoff, and is let in after the cool-down.
    if (guards.publishLimiter.inCooldown(client.id)) {
      callback(deny(client, "flood_cooldown", SERVER_UNAVAILABLE), false);
      return;
    }
    ctx.metrics.authAccepted.inc({ secret });
    guards.admission.authenticated(client.conn);
    let claimed: Promise<void> | undefined;
    try {
      claimed = connections.claim(client);
    } catch (error) {
      failed(client, error, callback);
      return;
    }
    if (!claimed) {
      callback(null, true);
      return;
    }
    claimed.then(
      () => callback(null, true),
      (error: unknown) => failed(client, error, callback),
    );
  }

  function failed(client: Client, error: unknown, callback: AuthenticateCallback): void {
    ctx.logger.error({ err: error, clientId: clip(client.id) }, "authentication failed");
    callback(authError(SERVER_UNAVAILABLE, "server unavailable"), false);
  }

  function deny(client: Client, reason: RefusalReason, code: number): AuthenticateError {
    const cooldown = COUNTED_FAILURES.has(reason) && guards.admission.failed(client.conn);
    refuse(ctx, reason, {
      clientId: client.id,
      remote: remoteOf(client),
      ...(cooldown ? { addressCooldown: true } : {}),
    });
    return authError(code, reason);
  }

  /** Which fleet secret the password derives from: the current one, the previous one, or none. */
  function matchingSecret(deviceId: string, password: Buffer | undefined): "current" | "previous" | null {
    if (!password) return null;
    if (current.verify(deviceId, password)) return "current";
    if (previous?.verify(deviceId, password)) return "previous";
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
