import { connect, type Socket } from "node:net";
import { generate, parser } from "mqtt-packet";
import { topics } from "../../../protocol/src/index.js";
import { type Endpoint, encodeSession, openSession, runPool } from "../raw-mqtt.js";

/** QoS 1 PUBLISHes from one device to its own events topic, acknowledged in a window. */
async function publishAll(
  endpoint: Endpoint,
  deviceId: string,
  count: number,
  window: number,
): Promise<void> {
  const socket = await openSession(endpoint, await encodeSession(deviceId, false));
  const topic = topics.event(deviceId, "bench");
  const packet = (n: number) =>
    generate({
      cmd: "publish",
      topic,
      payload: Buffer.from(JSON.stringify({ n })),
      qos: 1,
      messageId: (n % 65_535) + 1,
      retain: false,
      dup: false,
    });
  await new Promise<void>((resolve, reject) => {
    let sent = 0;
    let acked = 0;
    let pending = Buffer.alloc(0);
    const next = () => {
      while (sent < count && sent - acked < window) socket.write(packet(sent++));
    };
    socket.on("data", (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      // Only PUBACKs (4 bytes: 0x40 0x02 id id) come back: the publisher subscribes to nothing.
      while (pending.length >= 4) {
        if (pending[0] !== 0x40)
          return reject(new Error(`${deviceId}: unexpected packet 0x${pending[0]?.toString(16)}`));
        pending = pending.subarray(4);
        acked++;
      }
      if (acked >= count) resolve();
      else next();
    });
    socket.once(
      "close",
      () => acked < count && reject(new Error(`${deviceId}: closed after ${acked}/${count} PUBACKs`)),
    );
    next();
  });
  socket.end(Buffer.from([0xe0, 0x00]));
}

/** A raw subscriber to every device's events at QoS 1 that acknowledges and counts each PUBLISH. */
export async function startCountingSubscriber(
  endpoint: Endpoint,
): Promise<{ count: () => number; close(): void }> {
  const socket: Socket = connect(endpoint.port, endpoint.host);
  socket.setNoDelay(true);
  const parse = parser({ protocolVersion: 4 });
  let received = 0;
  const subscribed = new Promise<void>((resolve, reject) => {
    parse.on("packet", (packet) => {
      if (packet.cmd === "connack") {
        socket.write(
          generate({
            cmd: "subscribe",
            messageId: 1,
            subscriptions: [{ topic: "devices/+/events/#", qos: 1 }],
          }),
        );
      } else if (packet.cmd === "suback") {
        resolve();
      } else if (packet.cmd === "publish") {
        received++;
        if (packet.qos === 1 && packet.messageId !== undefined) {
          socket.write(generate({ cmd: "puback", messageId: packet.messageId }));
        }
      }
    });
    socket.once("error", reject);
  });
  socket.on("data", (chunk: Buffer) => parse.parse(chunk));
  socket.write(
    generate({
      cmd: "connect",
      protocolId: "MQTT",
      protocolVersion: 4,
      clientId: "bench-fan-in-sink",
      clean: true,
      keepalive: 300,
    }),
  );
  await subscribed;
  return { count: () => received, close: () => socket.destroy() };
}

export interface FanInResult {
  publishers: number;
  messages: number;
  /** PUBACKs received by the publishers, per second. */
  acceptedPerSecond: number;
  /** Messages that reached the one consumer (a subscriber, or Tether's event sink), per second. */
  deliveredPerSecond: number;
  delivered: number;
  failures: number;
}

/**
 * Many publishers → one consumer: `publishers` devices each send `perPublisher`
 * QoS 1 messages; `delivered()` reads how many reached the consumer, which for
 * Tether is the event forwarder's POSTs to a local edge stand-in.
 */
export async function fanIn(
  endpoint: Endpoint,
  prefix: string,
  publishers: number,
  perPublisher: number,
  delivered: () => number,
  timeoutMs = 60_000,
): Promise<FanInResult> {
  const before = delivered();
  const total = publishers * perPublisher;
  const started = performance.now();
  const outcome = await runPool(publishers, publishers, (i) =>
    publishAll(endpoint, `${prefix}-${i}`, perPublisher, 10),
  );
  const acceptedSeconds = (performance.now() - started) / 1000;
  const deadline = performance.now() + timeoutMs;
  let last = delivered() - before;
  let lastChange = performance.now();
  while (last < total && performance.now() < deadline && performance.now() - lastChange < 5_000) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    const now = delivered() - before;
    if (now !== last) {
      last = now;
      lastChange = performance.now();
    }
  }
  const deliveredSeconds = ((last >= total ? lastChange : performance.now()) - started) / 1000;
  return {
    publishers,
    messages: total,
    acceptedPerSecond: total / acceptedSeconds,
    deliveredPerSecond: last / Math.max(deliveredSeconds, acceptedSeconds),
    delivered: last,
    failures: outcome.failures,
  };
}
