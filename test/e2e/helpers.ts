import { randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sign } from "hono/jwt";
import mqtt, { type MqttClient } from "mqtt";
import { WebSocket } from "ws";
import { connectDevice, type Device, type DeviceOptions } from "../../device-sdk/src/index.js";
import { bearer, devicePassword, isRecord, parseJson } from "../../protocol/src/index.js";
import { freePort } from "../../scripts/lib/ports.js";
import { ROOT, type RunningSystem, type SystemOptions, startSystem } from "../../scripts/lib/system.js";

/** A frame a client socket received, parsed; `raw` keeps the text for non-JSON frames. */
export type Frame = Record<string, unknown>;

/** Child output is quiet unless E2E_VERBOSE=1 (tails are still kept for start-up errors). */
const output = process.env.E2E_VERBOSE === "1" ? (line: string) => console.log(line) : null;

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` every 50 ms until it returns a value other than undefined/false, or throws after `timeoutMs`. */
export async function until<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 5_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** A real `ws` client socket on the edge, recording every frame it receives. */
export class ClientSocket {
  /** Bound: one test's worth of frames; the socket is closed at the end of its test. */
  readonly frames: Frame[] = [];
  readonly #ws: WebSocket;
  #closed: Promise<void>;

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    this.#closed = new Promise((resolve) => ws.once("close", () => resolve()));
    // A reset after the test has its answer must not become an uncaught 'error'.
    ws.on("error", () => {});
    ws.on("message", (data, isBinary) => {
      const text = isBinary ? "" : data.toString();
      const parsed = parseJson(text);
      this.frames.push(parsed.ok && isRecord(parsed.value) ? parsed.value : { raw: text });
    });
  }

  /** Opens `url` with protocols ["tether", token]; rejects with the HTTP status when refused. */
  static open(url: string, token: string): Promise<ClientSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, ["tether", token]);
      const socket = new ClientSocket(ws);
      ws.once("open", () => resolve(socket));
      ws.once("unexpected-response", (_request, response) => {
        reject(new RefusedUpgrade(response.statusCode ?? 0));
        ws.terminate();
      });
      ws.once("error", reject);
    });
  }

  /** The frames of these types, in arrival order. */
  ofType(...types: string[]): Frame[] {
    return this.frames.filter((frame) => typeof frame.type === "string" && types.includes(frame.type));
  }

  /** Resolves with the first frame (already received or not) that matches. */
  async waitFor(what: string, match: (frame: Frame) => boolean, timeoutMs = 5_000): Promise<Frame> {
    try {
      return await until(what, () => this.frames.find(match), timeoutMs);
    } catch (error) {
      // Say what did arrive: a missing frame is much easier to place with its neighbours.
      throw new Error(`${(error as Error).message}; frames so far: ${JSON.stringify(this.frames)}`);
    }
  }

  send(frame: unknown): void {
    this.#ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  close(): Promise<void> {
    if (this.#ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    this.#ws.close(1000);
    const forced = setTimeout(() => this.#ws.terminate(), 1_000);
    return this.#closed.finally(() => clearTimeout(forced));
  }
}

export class RefusedUpgrade extends Error {
  constructor(readonly status: number) {
    super(`upgrade refused with HTTP ${status}`);
  }
}

export interface JsonResponse {
  status: number;
  body: unknown;
}

/**
 * One real system per test file: broker process, edge on workerd (wrangler dev),
 * on ephemeral ports, with known secrets; plus the clients a test needs. Routers
 * and sockets opened by a test are closed by `cleanup()` (call it in afterEach).
 */
export class E2ESystem {
  /** Bound: what one test opens; emptied by cleanup(). */
  readonly #open: (() => Promise<void>)[] = [];

  private constructor(
    readonly system: RunningSystem,
    readonly configDir: string,
  ) {}

  /**
   * Starts the system with the repo's wrangler.toml copied into a directory that also
   * holds a developer's `.dev.vars` and `.env` with wrong secrets and a wrong
   * BROKER_URL: every test then also proves that the launcher's env file wins.
   */
  static async start(options: Partial<SystemOptions> = {}): Promise<E2ESystem> {
    const host = "127.0.0.1";
    const secret = (name: string) => `e2e-${name}-${randomUUID()}`;
    const configDir = await configWithStrayDevVars();
    const system = await startSystem({
      wranglerConfig: join(configDir, "wrangler.toml"),
      host,
      mqttPort: await freePort(host),
      httpPort: await freePort(host),
      edgePort: await freePort(host),
      env: {
        DEVICE_SECRET: secret("device"),
        BROKER_API_TOKEN: secret("broker"),
        EDGE_EVENTS_SECRET: secret("events"),
        RAILS_API_TOKEN: secret("rails"),
        CLIENT_JWT_SECRET: secret("jwt"),
      },
      output,
      readyTimeoutMs: 60_000,
      ...options,
    }).catch(async (error: unknown) => {
      await rm(configDir, { recursive: true, force: true });
      throw error;
    });
    return new E2ESystem(system, configDir);
  }

  get secrets() {
    return this.system.secrets;
  }

  get urls() {
    return this.system.urls;
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
    const response = await fetch(`${this.urls.edge}${path}`, {
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

  async stop(): Promise<void> {
    await this.cleanup();
    await this.system.stop();
    await rm(this.configDir, { recursive: true, force: true });
  }
}

/** A device id no other test (nor an earlier run against the same edge) uses. */
export function freshId(label: string): string {
  return `e2e-${label}-${randomUUID().slice(0, 8)}`;
}

/** A temp copy of wrangler.toml (paths made absolute) next to a stray `.dev.vars` and `.env`. */
async function configWithStrayDevVars(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "tether-e2e-edge-"));
  const toml = await readFile(join(ROOT, "wrangler.toml"), "utf8");
  const rewritten = toml
    .replace(/^main = "(.+)"$/m, (_, path: string) => `main = "${join(ROOT, path)}"`)
    .replace(/^directory = "(.+)"$/m, (_, path: string) => `directory = "${join(ROOT, path)}"`);
  if (!rewritten.includes(`main = "${ROOT}`) || !rewritten.includes(`directory = "${ROOT}`)) {
    throw new Error("wrangler.toml changed shape: update configWithStrayDevVars");
  }
  const stray = [
    "RAILS_API_TOKEN=stray-dev-vars-rails-token",
    "CLIENT_JWT_SECRET=stray-dev-vars-jwt-secret",
    "BROKER_API_TOKEN=stray-dev-vars-broker-token",
    "EDGE_EVENTS_SECRET=stray-dev-vars-events-secret",
    "BROKER_URL=http://127.0.0.1:9",
  ].join("\n");
  await writeFile(join(dir, "wrangler.toml"), rewritten);
  await writeFile(join(dir, ".dev.vars"), stray);
  await writeFile(join(dir, ".env"), stray);
  return dir;
}
