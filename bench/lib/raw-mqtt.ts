/**
 * Many MQTT 3.1.1 clients at the cost of one socket each: pre-encoded packets
 * written to raw `net` sockets, reading only CONNACK and SUBACK. mqtt.js would
 * measure the client library; this measures the broker.
 */
import { connect, type Socket } from "node:net";
import { generate } from "mqtt-packet";
import { devicePassword, topics } from "../../protocol/src/index.js";
import { BENCH_DEVICE_SECRET } from "./ipc.js";

export interface Endpoint {
  host: string;
  port: number;
  /** Source address (127.0.0.2–9 spread many sockets over more than one address). */
  localAddress?: string;
}

export interface SessionPackets {
  connect: Buffer;
  /** SUBSCRIBE to the device's own commands topic at QoS 1, as a router does. */
  subscribe?: Buffer;
}

const DISCONNECT = Buffer.from([0xe0, 0x00]);
const CONNACK_LENGTH = 4;
const SUBACK_LENGTH = 5;

/** Encodes a clean=false, keepalive 300 CONNECT with the device's derived password (and SUBSCRIBE). */
export async function encodeSession(deviceId: string, subscribe: boolean): Promise<SessionPackets> {
  const password = Buffer.from(await devicePassword(BENCH_DEVICE_SECRET, deviceId));
  const connectPacket = generate({
    cmd: "connect",
    protocolId: "MQTT",
    protocolVersion: 4,
    clientId: deviceId,
    username: deviceId,
    password,
    clean: false,
    keepalive: 300,
  });
  if (!subscribe) return { connect: connectPacket };
  return {
    connect: connectPacket,
    subscribe: generate({
      cmd: "subscribe",
      messageId: 1,
      subscriptions: [{ topic: topics.commands(deviceId), qos: 1 }],
    }),
  };
}

/** Opens a session: resolves with the socket once CONNACK (and SUBACK) say yes. */
export function openSession(
  endpoint: Endpoint,
  packets: SessionPackets,
  timeoutMs = 20_000,
): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: endpoint.host,
      port: endpoint.port,
      noDelay: true,
      ...(endpoint.localAddress ? { localAddress: endpoint.localAddress } : {}),
    });
    let received = Buffer.alloc(0);
    let connacked = false;
    const fail = (message: string) => {
      cleanup();
      socket.destroy();
      reject(new Error(message));
    };
    const timer = setTimeout(() => fail(`no CONNACK/SUBACK within ${timeoutMs} ms`), timeoutMs);
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (!connacked && received.length >= CONNACK_LENGTH) {
        if (received[0] !== 0x20 || received[3] !== 0)
          return fail(`CONNACK refused (return code ${received[3]})`);
        connacked = true;
        received = received.subarray(CONNACK_LENGTH);
        if (packets.subscribe) socket.write(packets.subscribe);
      }
      if (!connacked) return;
      if (packets.subscribe) {
        if (received.length < SUBACK_LENGTH) return;
        if (received[0] !== 0x90 || received[4] === 0x80) return fail("SUBACK refused");
      }
      cleanup();
      resolve(socket);
    };
    const onError = (error: Error) => fail(error.message);
    const onClose = () => fail("closed by the broker before CONNACK");
    function cleanup() {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("error", onError);
      socket.off("close", onClose);
      // An idle socket must not crash the bench if the broker resets it later.
      socket.on("error", () => {});
    }
    socket.on("data", onData);
    socket.once("error", onError);
    socket.once("close", onClose);
    socket.write(packets.connect);
  });
}

/**
 * Sends DISCONNECT and waits for the broker to close first: the broker's side then holds
 * TIME_WAIT (on its own listening port, where it costs nothing), not our source ports.
 * `end(DISCONNECT)` would send our FIN with it and make us the closer: each run then left
 * 15,000 client-side TIME_WAITs on 127.0.0.2–9 for 60 s, and the next run's bind-before-connect
 * searched ever fuller port ranges — its routers connected at ~320/s instead of ~3,700/s
 * (docs/BENCHMARKS.md, "Bench: TIME_WAIT on our source ports").
 */
export function closeSession(socket: Socket, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve();
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve();
    });
    socket.on("data", () => {});
    // The broker's FIN: answer it with ours (LAST_ACK here, TIME_WAIT there).
    socket.once("end", () => socket.end());
    socket.write(DISCONNECT);
  });
}

/** Runs `task(0..total-1)` with at most `concurrency` at once; counts failures instead of stopping. */
export async function runPool(
  total: number,
  concurrency: number,
  task: (index: number) => Promise<void>,
  onProgress: (done: number) => void = () => {},
): Promise<{ failures: number; firstError: string | undefined }> {
  let next = 0;
  let done = 0;
  let failures = 0;
  let firstError: string | undefined;
  async function worker(): Promise<void> {
    while (next < total) {
      const index = next++;
      try {
        await task(index);
      } catch (error) {
        failures++;
        firstError ??= error instanceof Error ? error.message : String(error);
      }
      onProgress(++done);
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  return { failures, firstError };
}
