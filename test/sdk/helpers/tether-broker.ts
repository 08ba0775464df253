import pino from "pino";
import { type RunningBroker, startBroker } from "../../../broker/src/index.js";
import {
  bearer,
  type CommandRequest,
  isRecord,
  parseEventBatch,
  parseJson,
  type TetherEvent,
} from "../../../protocol/src/index.js";

export const DEVICE_SECRET = "sdk-test-device-secret-0123456789";
const API_TOKEN = "sdk-test-broker-api-token-0123456789";

/**
 * Our broker on ephemeral ports, with the events it would forward to the edge captured
 * in memory (an injected fetch), and a restart that comes back on the same ports.
 */
export interface TestBroker {
  readonly mqttUrl: string;
  readonly mqttPort: number;
  readonly events: TetherEvent[];
  sendCommand(deviceId: string, body: CommandRequest): Promise<{ status: number; body: unknown }>;
  getDevice(deviceId: string): Promise<Record<string, unknown>>;
  /** Closes the broker (clients are disconnected) without starting it again. */
  stop(): Promise<void>;
  /** Starts it again on the same ports (after stop()). */
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function startTestBroker(): Promise<TestBroker> {
  const events: TetherEvent[] = [];
  const captureFetch = (async (_url: unknown, init?: RequestInit) => {
    const json = parseJson(typeof init?.body === "string" ? init.body : "");
    const batch = json.ok ? parseEventBatch(json.value) : json;
    if (batch.ok) events.push(...batch.value.events);
    return new Response('{"ok":true}', { status: 200, headers: { "content-type": "application/json" } });
  }) as typeof fetch;

  const launch = (mqttPort: number, httpPort: number) =>
    startBroker({
      mqttPort,
      httpPort,
      host: "127.0.0.1",
      deviceSecret: DEVICE_SECRET,
      brokerApiToken: API_TOKEN,
      edgeEventsUrl: "http://edge.invalid/internal/events",
      edgeEventsSecret: "sdk-test-edge-events-secret-0123",
      fetch: captureFetch,
      logger: pino({ level: "silent" }),
      // Lag shedding off (issue 17): this broker shares its event loop and the suite's two cores
      // with the test's own load; test/broker/overload.test.ts tests the shedding.
      maxEventLoopLagMs: 0,
      commandLatencyTolerance: 0,
    });

  let broker: RunningBroker | null = await launch(0, 0);
  const { mqttPort, httpPort, mqttUrl, httpUrl } = broker;

  const api = async (path: string, init: RequestInit = {}) => {
    const response = await fetch(`${httpUrl}${path}`, {
      ...init,
      headers: { authorization: bearer(API_TOKEN), "content-type": "application/json" },
    });
    const json = parseJson(await response.text());
    return { status: response.status, body: json.ok ? json.value : null };
  };

  return {
    mqttUrl,
    mqttPort,
    events,
    sendCommand: (deviceId, body) =>
      api(`/v1/devices/${deviceId}/commands`, { method: "POST", body: JSON.stringify(body) }),
    async getDevice(deviceId) {
      const { body } = await api(`/v1/devices/${deviceId}`);
      return isRecord(body) ? body : {};
    },
    async stop() {
      await broker?.close();
      broker = null;
    },
    async start() {
      broker = await launch(mqttPort, httpPort);
    },
    async close() {
      await broker?.close();
      broker = null;
    },
  };
}
