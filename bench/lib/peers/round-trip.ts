import { Agent, request } from "node:http";
import mqtt, { type MqttClient } from "mqtt";
import { disableNagle } from "../../../device-sdk/src/connection.js";
import { devicePassword, topics } from "../../../protocol/src/index.js";
import { BENCH_API_TOKEN, BENCH_DEVICE_SECRET } from "../ipc.js";

export interface RoundTripResult {
  rate: number;
  seconds: number;
  sent: number;
  ok: number;
  failed: number;
  p50: number | null;
  p99: number | null;
  max: number | null;
  firstFailure: string | null;
}

/** Nagle off, as the device SDK does: else a reply after a PUBACK waits ~40 ms for a delayed ACK. */
function noDelay(client: MqttClient): MqttClient {
  disableNagle(client.stream);
  return client;
}

/** A device that answers every command `{id}` with `{id, ok: true, result: {pong: true}}`. */
export async function answeringDevice(mqttUrl: string, id: string): Promise<MqttClient> {
  const client = noDelay(
    await mqtt.connectAsync(mqttUrl, {
      clientId: id,
      username: id,
      password: await devicePassword(BENCH_DEVICE_SECRET, id),
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 0,
    }),
  );
  client.on("message", (_topic, payload) => {
    const command: unknown = JSON.parse(payload.toString());
    const commandId =
      typeof command === "object" && command !== null ? Reflect.get(command, "id") : undefined;
    if (typeof commandId !== "string") return;
    client.publish(topics.results(id), JSON.stringify({ id: commandId, ok: true, result: { pong: true } }), {
      qos: 1,
    });
  });
  await client.subscribeAsync(topics.commands(id), { qos: 1 });
  return client;
}

function summarize(
  rate: number,
  seconds: number,
  sent: number,
  rtts: number[],
  failed: number,
  firstFailure: string | null,
): RoundTripResult {
  const sorted = [...rtts].sort((a, b) => a - b);
  const at = (p: number) =>
    sorted.length === 0 ? null : (sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? null);
  return {
    rate,
    seconds,
    sent,
    ok: rtts.length,
    failed,
    p50: at(0.5),
    p99: at(0.99),
    max: sorted.at(-1) ?? null,
    firstFailure,
  };
}

/**
 * POSTs `body` and resolves with the status and text. node:http over a keep-alive
 * agent rather than fetch(): undici's fetch allocates ~45 KB of web streams and
 * Headers per request, and at 500/s the bench's own scavenges (5–25 ms each, 4 a
 * second) then showed up as broker latency. Same wire traffic: HTTP/1.1, reused
 * connections.
 */
export function post(
  agent: Agent,
  url: URL,
  headers: Record<string, string>,
  body: string,
  options: { timeoutMs?: number } = {},
) {
  return new Promise<{ status: number; text: string; retryAfter: string | null }>((resolve, reject) => {
    const req = request(url, { method: "POST", agent, headers }, (response) => {
      let text = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => {
        text += chunk;
      });
      response.on("end", () =>
        resolve({
          status: response.statusCode ?? 0,
          text,
          retryAfter: response.headers["retry-after"] ?? null,
        }),
      );
      response.on("error", reject);
    });
    req.on("error", reject);
    // Gives up on a request that has not been answered in time (the open-loop overload bench).
    if (options.timeoutMs !== undefined)
      req.setTimeout(options.timeoutMs, () => req.destroy(new Error("gave up")));
    req.end(body);
  });
}

/** Open loop: requests leave on schedule whatever the answers do, so a slow answer cannot hide later ones. */
async function openLoop(rate: number, seconds: number, fire: (n: number) => Promise<void>): Promise<number> {
  const started = performance.now();
  // Bound: rate × seconds requests, all awaited before returning.
  const inFlight: Promise<void>[] = [];
  let sent = 0;
  const total = Math.round(rate * seconds);
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate) + 1);
    while (sent < due) inFlight.push(fire(sent++));
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await Promise.all(inFlight);
  return sent;
}

/**
 * Command round trips through Tether's HTTP API: POST → MQTT → device → result → HTTP
 * answer. `httpUrl` is the broker's, or the edge's (the same route, Rails' token).
 */
export async function tetherRoundTrips(
  httpUrl: string,
  mqttUrl: string,
  devices: number,
  rate: number,
  seconds: number,
  token: string = BENCH_API_TOKEN,
): Promise<RoundTripResult> {
  const ids = Array.from({ length: devices }, (_, i) => `rtt-${i}`);
  const clients = await Promise.all(ids.map((id) => answeringDevice(mqttUrl, id)));
  const urls = ids.map((id) => new URL(`${httpUrl}/v1/devices/${id}/commands`));
  const body = JSON.stringify({ name: "ping", timeoutMs: 5_000 });
  const headers = {
    authorization: `Bearer ${token}`,
    "content-type": "application/json",
    "content-length": String(Buffer.byteLength(body)),
  };
  // Bound: sockets are reused; at most as many as requests in flight at once.
  const agent = new Agent({ keepAlive: true });
  const rtts: number[] = [];
  let failed = 0;
  let firstFailure: string | null = null;
  try {
    const sent = await openLoop(rate, seconds, async (n) => {
      const started = performance.now();
      try {
        const response = await post(agent, urls[n % urls.length] as URL, headers, body);
        if (response.status === 200) rtts.push(performance.now() - started);
        else {
          failed++;
          firstFailure ??= `${response.status} ${response.text.slice(0, 120)}`;
        }
      } catch (error) {
        failed++;
        firstFailure ??= String(error);
      }
    });
    return summarize(rate, seconds, sent, rtts, failed, firstFailure);
  } finally {
    agent.destroy();
    await Promise.all(clients.map((c) => c.endAsync(true)));
  }
}

/**
 * The same request/response over plain MQTT, for brokers without a command API:
 * a requester publishes `{id}` to the device's commands topic and waits for its
 * results topic (both QoS 1).
 */
export async function mqttRoundTrips(
  mqttUrl: string,
  devices: number,
  rate: number,
  seconds: number,
): Promise<RoundTripResult> {
  const ids = Array.from({ length: devices }, (_, i) => `rtt-${i}`);
  const clients = await Promise.all(ids.map((id) => answeringDevice(mqttUrl, id)));
  const requester = noDelay(
    await mqtt.connectAsync(mqttUrl, {
      clientId: "bench-requester",
      clean: true,
      reconnectPeriod: 0,
    }),
  );
  // Bound: the commands in flight (each removed on its answer; the run ends by awaiting them all).
  const waiting = new Map<string, () => void>();
  requester.on("message", (_topic, payload) => {
    const answer: unknown = JSON.parse(payload.toString());
    const id = typeof answer === "object" && answer !== null ? Reflect.get(answer, "id") : undefined;
    if (typeof id === "string") waiting.get(id)?.();
  });
  await requester.subscribeAsync("devices/+/results", { qos: 1 });
  const rtts: number[] = [];
  let failed = 0;
  let firstFailure: string | null = null;
  try {
    const sent = await openLoop(rate, seconds, async (n) => {
      const id = `c${n}`;
      const started = performance.now();
      const answered = new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 5_000);
        waiting.set(id, () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      requester.publish(
        topics.commands(ids[n % ids.length] ?? "rtt-0"),
        JSON.stringify({ id, name: "ping" }),
        { qos: 1 },
      );
      const ok = await answered;
      waiting.delete(id);
      if (ok) rtts.push(performance.now() - started);
      else {
        failed++;
        firstFailure ??= "no answer within 5 s";
      }
    });
    return summarize(rate, seconds, sent, rtts, failed, firstFailure);
  } finally {
    await requester.endAsync(true);
    await Promise.all(clients.map((c) => c.endAsync(true)));
  }
}
