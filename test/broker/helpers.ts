import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import pino from "pino";
import { type BrokerOptions, type RunningBroker, startBroker } from "../../broker/src/index.js";
import { bearer, devicePassword, type TetherEvent, verifyBodySignature } from "../../protocol/src/index.js";
import { REDIS_URL } from "../setup/service-urls.js";

export const DEVICE_SECRET = "test-device-secret-0123456789";
export const API_TOKEN = "test-broker-api-token-0123456789";
export const EVENTS_SECRET = "test-events-secret-0123456789";
/** The run's private Redis (test/setup/services.ts); the one place tests read its URL. */
export { REDIS_URL };

/** Silent unless LOG_LEVEL is set. */
export const testLogger = pino({ level: process.env.LOG_LEVEL ?? "silent" });

/** A fresh device id per test, so tests (and Redis runs) never share a device. */
export function deviceId(prefix = "router"): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** Things to close after each test, last started first. */
const cleanups: Array<() => Promise<unknown> | unknown> = [];

export function onCleanup(fn: () => Promise<unknown> | unknown): void {
  cleanups.push(fn);
}

export async function cleanupAll(): Promise<void> {
  while (cleanups.length > 0) {
    const fn = cleanups.pop();
    try {
      await fn?.();
    } catch {
      // cleanup of something already closed
    }
  }
}

/** Starts a broker on ephemeral ports; closed by cleanupAll(). */
export async function startTestBroker(options: Partial<BrokerOptions> = {}): Promise<RunningBroker> {
  const broker = await startBroker({
    deviceSecret: DEVICE_SECRET,
    brokerApiToken: API_TOKEN,
    mqttPort: 0,
    httpPort: 0,
    host: "127.0.0.1",
    logger: testLogger,
    memoryLogIntervalSeconds: 0,
    // Off unless a test asks for it (test/broker/overload.test.ts): the suite shares two cores
    // between many files, and a test's broker must not shed because another file is busy.
    maxEventLoopLagMs: 0,
    // Likewise the adaptive in-flight limit: another file's CPU slows this broker's answers.
    commandLatencyTolerance: 0,
    ...options,
  });
  onCleanup(() => broker.close());
  return broker;
}

export interface DeviceOptions extends IClientOptions {
  /** Subscribe to the device's commands topic after connecting (default true). */
  subscribeCommands?: boolean;
}

/** Connects a real mqtt.js device with its derived password; closed by cleanupAll(). */
export async function connectDevice(
  broker: RunningBroker,
  id: string,
  options: DeviceOptions = {},
): Promise<MqttClient> {
  const { subscribeCommands = true, ...rest } = options;
  const client = await mqtt.connectAsync(broker.mqttUrl, {
    clientId: id,
    username: id,
    password: await devicePassword(DEVICE_SECRET, id),
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 2_000,
    keepalive: 30,
    ...rest,
  });
  onCleanup(() => client.endAsync(true));
  if (subscribeCommands) await client.subscribeAsync(`devices/${id}/commands`, { qos: 1 });
  return client;
}

/** Tries to connect and returns the CONNACK error, or null when accepted. */
export async function tryConnect(broker: RunningBroker, options: IClientOptions): Promise<Error | null> {
  try {
    const client = await mqtt.connectAsync(broker.mqttUrl, {
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: 2_000,
      ...options,
    });
    await client.endAsync(true);
    return null;
  } catch (error) {
    return error as Error;
  }
}

/** Calls the broker's HTTP API with the bearer token. */
export async function api(
  broker: RunningBroker,
  path: string,
  init: { method?: string; body?: unknown; token?: string | null } = {},
): Promise<{ status: number; body: unknown }> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (init.token !== null) headers.authorization = bearer(init.token ?? API_TOKEN);
  const response = await fetch(`${broker.httpUrl}${path}`, {
    method: init.method ?? (init.body === undefined ? "GET" : "POST"),
    headers,
    ...(init.body === undefined
      ? {}
      : { body: typeof init.body === "string" ? init.body : JSON.stringify(init.body) }),
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON (e.g. /metrics)
  }
  return { status: response.status, body };
}

/** Waits until `check` returns a truthy value (polling), or fails after `timeoutMs`. */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  timeoutMs = 3_000,
  what = "condition",
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Answers every command the device receives with `answer(command)`. */
export function answerCommands(
  client: MqttClient,
  id: string,
  answer: (command: { id: string; name: string; params: unknown }) => unknown,
): Array<{ id: string; name: string; params: unknown; expiresAt: number }> {
  const received: Array<{ id: string; name: string; params: unknown; expiresAt: number }> = [];
  client.on("message", (topic, payload) => {
    if (topic !== `devices/${id}/commands`) return;
    const command = JSON.parse(payload.toString()) as {
      id: string;
      name: string;
      params: unknown;
      expiresAt: number;
    };
    received.push(command);
    const result = answer(command);
    if (result !== undefined) client.publish(`devices/${id}/results`, JSON.stringify(result), { qos: 1 });
  });
  return received;
}

/** A local stand-in for the edge's /internal/events: records signed batches. */
export interface EventReceiver {
  url: string;
  events: TetherEvent[];
  /** Signature checks of every request received. */
  signatures: Array<{ ok: boolean }>;
  close(): Promise<void>;
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    request.on("error", reject);
  });
}

export async function startEventReceiver(secret = EVENTS_SECRET): Promise<EventReceiver> {
  const events: TetherEvent[] = [];
  const signatures: Array<{ ok: boolean }> = [];
  const server: Server = createServer((request, response) => {
    readBody(request).then(async (raw) => {
      const check = await verifyBodySignature(
        secret,
        request.headers["tether-signature"]?.toString(),
        raw,
        Date.now() / 1000,
      );
      signatures.push({ ok: check.ok });
      if (!check.ok) {
        response.writeHead(401).end();
        return;
      }
      const batch = JSON.parse(raw) as { events: TetherEvent[] };
      events.push(...batch.events);
      response.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  const receiver: EventReceiver = {
    url: `http://127.0.0.1:${port}/internal/events`,
    events,
    signatures,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  onCleanup(() => receiver.close());
  return receiver;
}

function mqttString(value: string): Buffer {
  const bytes = Buffer.from(value, "utf8");
  const length = Buffer.alloc(2);
  length.writeUInt16BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

function remainingLength(length: number): Buffer {
  const bytes: number[] = [];
  let value = length;
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    bytes.push(byte);
  } while (value > 0);
  return Buffer.from(bytes);
}

/** A hand-built MQTT 3.1.1 CONNECT, for raw-socket tests that must misbehave below mqtt.js. */
export function connectPacket(options: {
  clientId: string;
  username: string;
  password: string;
  keepalive: number;
  clean?: boolean;
}): Buffer {
  const flags = 0x80 | 0x40 | (options.clean === false ? 0 : 0x02);
  const keepalive = Buffer.alloc(2);
  keepalive.writeUInt16BE(options.keepalive);
  const body = Buffer.concat([
    mqttString("MQTT"),
    Buffer.from([4, flags]),
    keepalive,
    mqttString(options.clientId),
    mqttString(options.username),
    mqttString(options.password),
  ]);
  return Buffer.concat([Buffer.from([0x10]), remainingLength(body.length), body]);
}

/** A raw TCP socket to the broker's MQTT port; destroyed by cleanupAll(). */
export async function rawSocket(broker: RunningBroker): Promise<import("node:net").Socket> {
  const { connect } = await import("node:net");
  const socket = connect(broker.mqttPort, "127.0.0.1");
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("error", reject);
  });
  socket.on("error", () => {});
  // Consume what the broker sends (CONNACK), or 'close' would wait for a reader.
  socket.resume();
  onCleanup(() => socket.destroy());
  return socket;
}

/** Resolves with the elapsed ms when the socket closes. */
export function closedAfter(socket: import("node:net").Socket): Promise<number> {
  const started = Date.now();
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve(0);
    socket.once("close", () => resolve(Date.now() - started));
  });
}

/** Deletes every Redis key under `prefix` (each Redis test run uses its own prefix). */
export async function deleteRedisKeys(prefix: string): Promise<void> {
  const { Redis } = await import("ioredis");
  const redis = new Redis(REDIS_URL);
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 500);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== "0");
  } finally {
    await redis.quit();
  }
}
