import { Worker } from "node:worker_threads";
import mqttPacket from "mqtt-packet";
import { devicePassword, topics } from "../../protocol/src/index.js";
import { DEVICE_SECRET } from "../broker/helpers.js";

/**
 * A device that floods the broker with QoS 0 publishes from its own thread (so
 * the flood does not share the test's event loop with the broker it measures),
 * from `localAddress`. It writes as fast as the socket takes the bytes and, when
 * the broker closes the connection, connects again at once — the worst an
 * attacker holding one router's password can do from one address.
 */
export interface Flooder {
  /** Connections the flooder has opened so far. */
  connections(): Promise<number>;
  stop(): Promise<void>;
}

const WORKER_SOURCE = `
const { connect } = require("node:net");
const { parentPort, workerData } = require("node:worker_threads");
const { port, localAddress, connectBytes, floodBytes } = workerData;
const connectPacket = Buffer.from(connectBytes);
const flood = Buffer.from(floodBytes);
let stopped = false;
let connections = 0;
let current = null;
function open() {
  if (stopped) return;
  connections++;
  const socket = connect({ port, host: "127.0.0.1", localAddress });
  current = socket;
  socket.on("error", () => {});
  socket.on("close", () => setImmediate(open));
  const pump = () => {
    while (!stopped && !socket.destroyed && socket.write(flood)) {}
  };
  // The first bytes back are the CONNACK: flood from then on (before it, the broker queues only 42 packets).
  socket.once("data", (connack) => {
    if (connack[3] !== 0) return;
    socket.on("drain", pump);
    pump();
  });
  socket.on("data", () => {});
  socket.on("connect", () => socket.write(connectPacket));
}
parentPort.on("message", (message) => {
  if (message === "count") parentPort.postMessage(connections);
  if (message === "stop") {
    stopped = true;
    current?.destroy();
  }
});
open();
`;

export async function startFlooder(options: {
  port: number;
  deviceId: string;
  localAddress: string;
}): Promise<Flooder> {
  const { deviceId } = options;
  const connect = mqttPacket.generate({
    cmd: "connect",
    protocolId: "MQTT",
    protocolVersion: 4,
    clean: true,
    clientId: deviceId,
    keepalive: 30,
    username: deviceId,
    password: Buffer.from(await devicePassword(DEVICE_SECRET, deviceId)),
  });
  const one = mqttPacket.generate({
    cmd: "publish",
    topic: topics.event(deviceId, "spam"),
    payload: Buffer.from('{"n":1}'),
    qos: 0,
    retain: false,
    dup: false,
  });
  const flood = Buffer.concat(Array.from({ length: 500 }, () => one));
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: {
      port: options.port,
      localAddress: options.localAddress,
      connectBytes: new Uint8Array(connect),
      floodBytes: new Uint8Array(flood),
    },
  });
  return {
    connections: () =>
      new Promise((resolve) => {
        worker.once("message", (count: number) => resolve(count));
        worker.postMessage("count");
      }),
    async stop() {
      worker.postMessage("stop");
      await worker.terminate();
    },
  };
}
