import { type Socket, connect as tcpConnect } from "node:net";
import mqtt, { type MqttClient } from "mqtt";
import { generate } from "mqtt-packet";
import { devicePassword, topics } from "../../protocol/src/index.js";
import { API_TOKEN, type ChurnTarget, DEVICE_SECRET } from "./target.js";

/** How many of each kind of connection one round makes. */
export interface RoundSize {
  /** connect → subscribe → report state → answer a command → DISCONNECT; half of them clean=false. */
  full: number;
  /** A second connection with the same id takes the session over. */
  takeovers: number;
  /** A command to a connected device that never answers → 504 timeout. */
  timeouts: number;
  /** clean=false, subscribe, DISCONNECT, then a queued command waits in the offline session → 202. */
  queued: number;
  /** keepalive 1 s, then silence (no PINGREQ, no FIN): the broker must notice by keepalive. */
  halfOpen: number;
  /** Socket reset right after CONNACK, no DISCONNECT. */
  resets: number;
  /** A socket that never sends CONNECT (closed by the connect timeout). */
  silentConnects: number;
  concurrency: number;
}

export type Outcomes = Record<string, number>;

/**
 * How long the harness waits for a CONNACK, a command's answer, or a half-open session to
 * be closed. Its patience, not a claim: the claims are the outcomes and the heap (keepalive
 * timing is asserted in test/broker/liveness.test.ts). 5 s proved too short for a CPU-starved
 * broker on a loaded 2-core machine ("connack timeout" at load 12).
 */
const PATIENCE_MS = 15_000;

/** Runs `task(i)` for i < total with at most `concurrency` at once; the first failure rejects. */
async function pool(total: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < total) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(total, concurrency) }, worker));
}

async function device(target: ChurnTarget, id: string, clean: boolean, answer: boolean): Promise<MqttClient> {
  const client = await mqtt.connectAsync(target.broker.mqttUrl, {
    clientId: id,
    username: id,
    password: await devicePassword(DEVICE_SECRET, id),
    protocolVersion: 4,
    clean,
    keepalive: 30,
    reconnectPeriod: 0,
    connectTimeout: PATIENCE_MS,
  });
  client.on("error", () => {});
  if (answer) {
    client.on("message", (_topic, payload) => {
      const command: unknown = JSON.parse(payload.toString());
      if (typeof command !== "object" || command === null || !("id" in command)) return;
      client.publish(
        topics.results(id),
        JSON.stringify({ id: command.id, ok: true, result: { pong: true } }),
        { qos: 1 },
      );
    });
  }
  await client.subscribeAsync(topics.commands(id), { qos: 1 });
  return client;
}

async function command(target: ChurnTarget, id: string, body: Record<string, unknown>): Promise<number> {
  const response = await fetch(`${target.broker.httpUrl}/v1/devices/${id}/commands`, {
    method: "POST",
    headers: { authorization: `Bearer ${API_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  await response.arrayBuffer();
  return response.status;
}

function expectStatus(outcomes: Outcomes, status: number, expected: number, what: string): void {
  const key = status === expected ? what : `${what} (unexpected ${status})`;
  outcomes[key] = (outcomes[key] ?? 0) + 1;
}

/** A raw MQTT 3.1.1 session: CONNECT (keepalive given), wait for CONNACK; the socket is returned open. */
async function rawSession(target: ChurnTarget, id: string, keepalive: number): Promise<Socket> {
  const packet = generate({
    cmd: "connect",
    protocolId: "MQTT",
    protocolVersion: 4,
    clientId: id,
    username: id,
    password: Buffer.from(await devicePassword(DEVICE_SECRET, id)),
    clean: true,
    keepalive,
  });
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(target.broker.mqttPort, "127.0.0.1");
    socket.on("error", () => {});
    socket.once("close", () => reject(new Error(`${id}: closed before CONNACK`)));
    socket.once("data", (chunk: Buffer) => {
      socket.removeAllListeners("close");
      if (chunk[0] === 0x20 && chunk[3] === 0) resolve(socket);
      else reject(new Error(`${id}: CONNACK refused`));
    });
    socket.write(packet);
  });
}

const closed = (socket: Socket) =>
  new Promise<void>((resolve) => (socket.destroyed ? resolve() : socket.once("close", () => resolve())));

/** One round of churn with unique device ids `${prefix}-…`; resolves with outcome counts. */
export async function churnRound(target: ChurnTarget, prefix: string, size: RoundSize): Promise<Outcomes> {
  const outcomes: Outcomes = {};
  const silent: Socket[] = [];

  const fullCycles = pool(size.full, size.concurrency, async (i) => {
    const id = `${prefix}-f${i}`;
    const client = await device(target, id, i % 2 === 0, true);
    await client.publishAsync(topics.state(id), JSON.stringify({ uptime: i }), { qos: 1 });
    expectStatus(
      outcomes,
      await command(target, id, { name: "ping", timeoutMs: PATIENCE_MS }),
      200,
      "command ok",
    );
    await client.endAsync();
  });

  const takeovers = pool(size.takeovers, size.concurrency, async (i) => {
    const id = `${prefix}-t${i}`;
    const first = await device(target, id, false, true);
    const firstClosed = new Promise<void>((resolve) => first.once("close", () => resolve()));
    const second = await device(target, id, false, true);
    await firstClosed;
    first.end(true);
    outcomes.takeover = (outcomes.takeover ?? 0) + 1;
    await second.endAsync();
  });

  const timeouts = pool(size.timeouts, size.concurrency, async (i) => {
    const id = `${prefix}-x${i}`;
    const client = await device(target, id, true, false);
    expectStatus(
      outcomes,
      await command(target, id, { name: "ping", timeoutMs: 100 }),
      504,
      "command timed out",
    );
    await client.endAsync();
  });

  const queued = pool(size.queued, size.concurrency, async (i) => {
    const id = `${prefix}-q${i}`;
    const client = await device(target, id, false, true);
    await client.endAsync();
    expectStatus(
      outcomes,
      await command(target, id, { name: "ping", queue: true, ttlMs: 600_000 }),
      202,
      "command queued",
    );
  });

  const halfOpen = pool(size.halfOpen, size.concurrency, async (i) => {
    silent.push(await rawSession(target, `${prefix}-h${i}`, 1));
  });

  const resets = pool(size.resets, size.concurrency, async (i) => {
    const socket = await rawSession(target, `${prefix}-r${i}`, 30);
    socket.resetAndDestroy();
    outcomes.reset = (outcomes.reset ?? 0) + 1;
  });

  const silentConnects = pool(size.silentConnects, size.concurrency, async () => {
    const socket = tcpConnect(target.broker.mqttPort, "127.0.0.1");
    socket.on("error", () => {});
    await closed(socket);
    outcomes["closed by connect timeout"] = (outcomes["closed by connect timeout"] ?? 0) + 1;
  });

  await Promise.all([fullCycles, takeovers, timeouts, queued, halfOpen, resets, silentConnects]);
  // The broker must close every silent session within 1.5 × keepalive; after PATIENCE_MS we close them ourselves.
  let forced = false;
  const deadline = setTimeout(() => {
    forced = true;
    for (const socket of silent) socket.destroy();
  }, PATIENCE_MS);
  await Promise.all(
    silent.map(async (socket) => {
      await closed(socket);
      const key = forced
        ? `half-open (unexpected: still open after ${PATIENCE_MS} ms)`
        : "half-open closed by keepalive";
      outcomes[key] = (outcomes[key] ?? 0) + 1;
    }),
  );
  clearTimeout(deadline);
  return outcomes;
}
