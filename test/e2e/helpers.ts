import { randomUUID } from "node:crypto";
import { sign } from "hono/jwt";
import mqtt, { type MqttClient } from "mqtt";
import { connectDevice, type Device, type DeviceOptions } from "../../device-sdk/src/index.js";
import { bearer, devicePassword, isRecord } from "../../protocol/src/index.js";
import type { RunningSystem, SystemOptions } from "../../scripts/lib/system.js";
import { ClientSocket } from "./client-socket.js";
import { edgeFetch } from "./edge-fetch.js";
import { SHARED_SYSTEM_ENV, type SystemHandle, startOwnedSystem } from "./system-fixture.js";
import { until } from "./until.js";

export { ClientSocket, type Frame, RefusedUpgrade } from "./client-socket.js";
export { edgeFetch } from "./edge-fetch.js";
export { sleep, until } from "./until.js";

export interface JsonResponse {
  status: number;
  body: unknown;
}

/**
 * A real system (broker process, edge on workerd, as `npm start` runs it) and the clients a
 * test opens on it. `E2ESystem.shared()` is the one system of the whole run (started
 * once by test/setup/e2e-system.ts); `E2ESystem.start()` starts a private one, for a
 * file that needs other settings or must stop parts of it. Routers and sockets a test
 * opens are closed by `cleanup()` (call it in afterEach); `stop()` in afterAll.
 */
export class E2ESystem {
  /** Bound: what one test opens; emptied by cleanup(). */
  readonly #open: (() => Promise<void>)[] = [];

  private constructor(
    readonly handle: SystemHandle,
    /** Stops the system when this file owns it; undefined for the shared one. */
    private readonly release?: () => Promise<void>,
    private readonly owned?: RunningSystem,
  ) {}

  /** A private system for this file (its own broker and edge), stopped by stop(). */
  static async start(options: Partial<SystemOptions> = {}): Promise<E2ESystem> {
    const owned = await startOwnedSystem(options);
    return new E2ESystem(owned, () => owned.stop(), owned.system);
  }

  /**
   * The running system of a file that started its own (`E2ESystem.start()`): stop and
   * start its edge, kill and restart its broker. The shared system is never disturbed.
   */
  get system(): RunningSystem {
    if (!this.owned)
      throw new Error("only a system this file started (E2ESystem.start()) may be stopped or killed");
    return this.owned;
  }

  /** The run's shared system; waits while it starts (first caller) and fails with its start-up error. */
  static async shared(): Promise<E2ESystem> {
    const url = process.env[SHARED_SYSTEM_ENV];
    if (!url)
      throw new Error(`${SHARED_SYSTEM_ENV} is not set: run e2e files through vitest (project "e2e")`);
    const response = await fetch(url, { signal: AbortSignal.timeout(90_000) });
    const body: unknown = await response.json();
    if (!response.ok || !isSystemHandle(body)) {
      const message =
        isRecord(body) && typeof body.message === "string" ? body.message : JSON.stringify(body);
      throw new Error(`the shared e2e system did not start: ${message}`);
    }
    return new E2ESystem(body);
  }

  get secrets() {
    return this.handle.secrets;
  }

  get urls() {
    return this.handle.urls;
  }

  /** A request to the edge as Rails makes it (its bearer token unless `token` says otherwise). */
  async rails(
    path: string,
    init: RequestInit = {},
    token = this.secrets.RAILS_API_TOKEN,
  ): Promise<JsonResponse> {
    const headers = new Headers(init.headers);
    if (token) headers.set("authorization", bearer(token));
    if (init.body !== undefined) headers.set("content-type", "application/json");
    const response = await edgeFetch(`${this.urls.edge}${path}`, {
      ...init,
      headers,
      signal: AbortSignal.timeout(20_000),
    });
    return { status: response.status, body: await response.json() };
  }

  /** The broker's own HTTP API (its bearer token), e.g. `/metrics`, `/debug/memory`, `/healthz`. */
  async broker(path: string): Promise<{ status: number; text: string }> {
    const response = await fetch(`${this.urls.brokerHttp}${path}`, {
      headers: { authorization: bearer(this.secrets.BROKER_API_TOKEN) },
      signal: AbortSignal.timeout(10_000),
    });
    return { status: response.status, text: await response.text() };
  }

  /** `GET /v1/devices/{id}/commands/{commandId}` on the edge (Rails). */
  commandStatus(deviceId: string, commandId: string): Promise<JsonResponse> {
    return this.rails(`/v1/devices/${deviceId}/commands/${commandId}`);
  }

  /** POST /v1/devices/{id}/commands through the edge. */
  command(deviceId: string, body: unknown, token?: string): Promise<JsonResponse> {
    return this.rails(
      `/v1/devices/${deviceId}/commands`,
      { method: "POST", body: JSON.stringify(body) },
      token,
    );
  }

  /** The edge's view of a device (its Durable Object, not the broker). */
  async view(deviceId: string): Promise<Record<string, unknown>> {
    const { status, body } = await this.rails(`/v1/devices/${deviceId}`);
    if (status !== 200 || !isRecord(body)) throw new Error(`GET /v1/devices/${deviceId} → ${status}`);
    return body;
  }

  /** Waits until the edge — hence every socket — has heard the device's presence. */
  waitForPresence(deviceId: string, online: boolean, timeoutMs = 5_000): Promise<Record<string, unknown>> {
    return until(
      `${deviceId} online=${online} at the edge`,
      async () => {
        const view = await this.view(deviceId);
        return view.online === online && view;
      },
      timeoutMs,
    );
  }

  /**
   * A client JWT as Rails issues it; `secret`/`exp` let a test forge or expire one,
   * `cmd` lets it command the devices (without it the socket may only watch).
   */
  clientToken(
    devices: string[],
    kind: "mobile" | "web" = "web",
    options: { secret?: string; exp?: number; cmd?: boolean } = {},
  ): Promise<string> {
    const exp = options.exp ?? Math.floor(Date.now() / 1000) + 600;
    return sign(
      { sub: `user-${randomUUID()}`, devices, kind, exp, cmd: options.cmd ?? false },
      options.secret ?? this.secrets.CLIENT_JWT_SECRET,
      "HS256",
    );
  }

  socketUrl(deviceId: string): string {
    return `${this.urls.edge.replace(/^http/, "ws")}/v1/devices/${deviceId}/ws`;
  }

  /** Opens a client socket (one that may also command, with `cmd`) and waits for its snapshot (closed by cleanup()). */
  async socket(deviceId: string, kind: "mobile" | "web" = "web", options: { cmd?: boolean } = {}) {
    const socket = await ClientSocket.open(
      this.socketUrl(deviceId),
      await this.clientToken([deviceId], kind, options),
    );
    this.#open.push(() => socket.close());
    await socket.waitFor(`snapshot of ${deviceId}`, (frame) => frame.type === "snapshot");
    return socket;
  }

  /**
   * An SDK router with its real derived password (closed by cleanup()). `setup` registers
   * handlers before the first CONNECT, so commands queued in its session find them.
   */
  async router(
    deviceId: string,
    setup: (device: Device) => void = () => {},
    options: Partial<DeviceOptions> = {},
  ): Promise<Device> {
    const device = connectDevice({
      deviceId,
      password: await devicePassword(this.secrets.DEVICE_SECRET, deviceId),
      url: this.urls.mqtt,
      ...options,
    });
    setup(device);
    device.on("error", () => {
      // Connection errors are expected while a test takes a router away; assertions look at presence.
    });
    this.#open.push(() => device.close());
    return device;
  }

  /**
   * A bare mqtt.js client logged in as `deviceId` (closed by cleanup()), for what the SDK
   * would refuse to send: floods, poison payloads.
   */
  async rawDevice(deviceId: string): Promise<MqttClient> {
    const client = await mqtt.connectAsync(this.urls.mqtt, {
      clientId: deviceId,
      username: deviceId,
      password: await devicePassword(this.secrets.DEVICE_SECRET, deviceId),
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: 5_000,
    });
    client.on("error", () => {});
    this.#open.push(() => client.endAsync(true));
    return client;
  }

  /** Closes every router and socket the current test opened. */
  async cleanup(): Promise<void> {
    await Promise.all(this.#open.splice(0).map((close) => close()));
  }

  /** Closes this file's clients; stops the system only when this file started it. */
  async stop(): Promise<void> {
    await this.cleanup();
    await this.release?.();
  }
}

/** A device id no other test (nor an earlier run against the same edge) uses. */
export function freshId(label: string): string {
  return `e2e-${label}-${randomUUID().slice(0, 8)}`;
}

const SECRET_NAMES = [
  "DEVICE_SECRET",
  "BROKER_API_TOKEN",
  "EDGE_EVENTS_SECRET",
  "RAILS_API_TOKEN",
  "CLIENT_JWT_SECRET",
] as const;

/** Guards the shared system's answer (it crosses a process boundary as JSON). */
function isSystemHandle(value: unknown): value is SystemHandle {
  if (!isRecord(value) || !isRecord(value.urls) || !isRecord(value.secrets)) return false;
  const { urls, secrets } = value;
  return (
    ["edge", "brokerHttp", "mqtt"].every((key) => typeof urls[key] === "string") &&
    SECRET_NAMES.every((key) => typeof secrets[key] === "string")
  );
}
