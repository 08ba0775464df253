import { spawn } from "node:child_process";
import { once } from "node:events";
import mqttPacket from "mqtt-packet";
import { devicePassword, topics } from "../../protocol/src/index.js";
import { DEVICE_SECRET } from "../broker/helpers.js";

/**
 * A device that floods the broker with QoS 0 publishes, from `localAddress`. It
 * writes as fast as the socket takes the bytes and, when the broker closes the
 * connection, connects again at once — the worst an attacker holding one
 * router's password can do from one address. It runs as its own process at the
 * lowest CPU priority (nice 19): a real attacker's CPU is on another machine, so
 * on a 2-core test box its own work must not be what slows the broker down.
 */
export interface Flooder {
  stop(): Promise<void>;
}

const FLOODER_SOURCE = `
const { connect } = require("node:net");
const { port, localAddress, connectBytes, floodBytes } = JSON.parse(process.env.FLOODER);
const connectPacket = Buffer.from(connectBytes, "base64");
const flood = Buffer.from(floodBytes, "base64");
let stopped = false;
function open() {
  if (stopped) return;
  const socket = connect({ port, host: "127.0.0.1", localAddress });
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
process.on("SIGTERM", () => process.exit(0));
// Never outlive the test: stdin closes when the test process goes, and a minute is plenty.
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
setTimeout(() => process.exit(0), 60000).unref();
open();
process.stdout.write("started\\n");
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
  const settings = {
    port: options.port,
    localAddress: options.localAddress,
    connectBytes: connect.toString("base64"),
    floodBytes: flood.toString("base64"),
  };
  const child = spawn("nice", ["-n", "19", process.execPath, "-e", FLOODER_SOURCE], {
    env: { ...process.env, FLOODER: JSON.stringify(settings) },
    stdio: ["pipe", "pipe", "inherit"],
  });
  const exited = once(child, "exit");
  await once(child.stdout, "data");
  return {
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      child.stdin?.end();
      await exited;
    },
  };
}
