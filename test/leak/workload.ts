import { Agent as HttpAgent, request as httpRequest } from "node:http";
import { type Socket, connect as tcpConnect } from "node:net";
import mqttPacket, { generate, type Packet } from "mqtt-packet";
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

/**
 * A router as the broker sees one (CONNECT, SUBSCRIBE, QoS 1 PUBLISH, PUBACK, DISCONNECT),
 * written packet by packet with mqtt-packet: the same packets mqtt.js sends, for a fraction
 * of its CPU. mqtt.js clients were half the churn's CPU, and the churn pair ~20 % of the
 * suite's (issue 13); what is measured is the broker's heap, not the client's.
 */
class Router {
  readonly closed: Promise<void>;
  readonly #socket: Socket;
  readonly #acks = new Map<string, () => void>();
  #nextId = 1;

  constructor(
    socket: Socket,
    readonly id: string,
    onCommand: ((command: { id: string }) => void) | null,
    connected: (ok: boolean) => void,
  ) {
    this.#socket = socket;
    this.closed = new Promise((resolve) => socket.once("close", () => resolve()));
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on("packet", (packet: Packet) => {
      switch (packet.cmd) {
        case "connack":
          connected(packet.returnCode === 0);
          break;
        case "suback":
        case "puback":
          this.#acks.get(`${packet.cmd}:${packet.messageId}`)?.();
          break;
        case "publish": {
          if (packet.qos > 0) this.#send({ cmd: "puback", messageId: packet.messageId ?? 0 });
          const command: unknown = JSON.parse(packet.payload.toString());
          if (
            typeof command === "object" &&
            command !== null &&
            "id" in command &&
            typeof command.id === "string"
          )
            onCommand?.({ id: command.id });
          break;
        }
      }
    });
    parser.on("error", () => socket.destroy());
    socket.on("data", (chunk: Buffer) => parser.parse(chunk));
  }

  #send(packet: Packet): void {
    if (!this.#socket.destroyed) this.#socket.write(generate(packet));
  }

  /** Sends `packet` with the next message id; resolves on its `ack` (or rejects when the socket closes). */
  #acked(ack: "suback" | "puback", packet: (messageId: number) => Packet): Promise<void> {
    const messageId = this.#nextId++;
    const key = `${ack}:${messageId}`;
    return new Promise<void>((resolve, reject) => {
      const onClose = () => reject(new Error(`${this.id}: closed before ${ack} ${messageId}`));
      this.#socket.once("close", onClose);
      this.#acks.set(key, () => {
        this.#acks.delete(key);
        this.#socket.off("close", onClose);
        resolve();
      });
      this.#send(packet(messageId));
    });
  }

  subscribe(topic: string): Promise<void> {
    return this.#acked("suback", (messageId) => ({
      cmd: "subscribe",
      messageId,
      subscriptions: [{ topic, qos: 1 }],
    }));
  }

  publish(topic: string, payload: string): Promise<void> {
    return this.#acked("puback", (messageId) => ({
      cmd: "publish",
      topic,
      payload,
      qos: 1,
      retain: false,
      dup: false,
      messageId,
    }));
  }

  /** Answers without waiting for the PUBACK, as the SDK's handler does. */
  answer(commandId: string): void {
    this.publish(
      topics.results(this.id),
      JSON.stringify({ id: commandId, ok: true, result: { pong: true } }),
    ).catch(() => {});
  }

  /** DISCONNECT, then close; resolves when the socket is closed. */
  async end(): Promise<void> {
    this.#send({ cmd: "disconnect" });
    this.#socket.end();
    await this.closed;
  }

  /** Closes without DISCONNECT. */
  destroy(): void {
    this.#socket.destroy();
  }
}

async function device(target: ChurnTarget, id: string, clean: boolean, answer: boolean): Promise<Router> {
  const password = Buffer.from(await devicePassword(DEVICE_SECRET, id));
  const socket = tcpConnect(target.broker.mqttPort, "127.0.0.1");
  socket.on("error", () => {});
  let router: Router | undefined;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`${id}: no CONNACK within ${PATIENCE_MS} ms`));
    }, PATIENCE_MS);
    const onClose = () => {
      clearTimeout(timer);
      reject(new Error(`${id}: closed before CONNACK`));
    };
    socket.once("close", onClose);
    router = new Router(socket, id, answer ? (command) => router?.answer(command.id) : null, (ok) => {
      clearTimeout(timer);
      socket.off("close", onClose);
      if (ok) resolve();
      else {
        socket.destroy();
        reject(new Error(`${id}: CONNACK refused`));
      }
    });
    socket.write(
      generate({
        cmd: "connect",
        protocolId: "MQTT",
        protocolVersion: 4,
        clientId: id,
        username: id,
        password,
        clean,
        keepalive: 30,
      }),
    );
  });
  if (!router) throw new Error(`${id}: no router`);
  await router.subscribe(topics.commands(id));
  return router;
}

/**
 * Keep-alive sockets to the broker's API, as fetch keeps them, at a quarter of fetch's CPU.
 * Idle ones close after 1 s, well before the broker's own 5 s keep-alive timeout, so a
 * request never goes out on a socket the broker is closing.
 */
const agent = new HttpAgent({ keepAlive: true, timeout: 1_000 });

function command(target: ChurnTarget, id: string, body: Record<string, unknown>): Promise<number> {
  const raw = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      `${target.broker.httpUrl}/v1/devices/${id}/commands`,
      {
        method: "POST",
        agent,
        headers: {
          authorization: `Bearer ${API_TOKEN}`,
          "content-type": "application/json",
          "content-length": Buffer.byteLength(raw),
        },
      },
      (response) => {
        response.resume();
        response.once("end", () => resolve(response.statusCode ?? 0));
        response.once("error", reject);
      },
    );
    request.once("error", reject);
    request.end(raw);
  });
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
    await client.publish(topics.state(id), JSON.stringify({ uptime: i }));
    expectStatus(
      outcomes,
      await command(target, id, { name: "ping", timeoutMs: PATIENCE_MS }),
      200,
      "command ok",
    );
    await client.end();
  });

  const takeovers = pool(size.takeovers, size.concurrency, async (i) => {
    const id = `${prefix}-t${i}`;
    const first = await device(target, id, false, true);
    const second = await device(target, id, false, true);
    await first.closed;
    first.destroy();
    outcomes.takeover = (outcomes.takeover ?? 0) + 1;
    await second.end();
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
    await client.end();
  });

  const queued = pool(size.queued, size.concurrency, async (i) => {
    const id = `${prefix}-q${i}`;
    const client = await device(target, id, false, true);
    await client.end();
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
