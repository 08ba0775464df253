import type { Socket } from "node:net";
import mqttPacket, { type Packet } from "mqtt-packet";
import type { RunningBroker } from "../../broker/src/index.js";
import { devicePassword } from "../../protocol/src/index.js";
import { DEVICE_SECRET } from "../broker/helpers.js";
import { socketFrom } from "./helpers.js";

/**
 * An MQTT 3.1.1 client below mqtt.js: it writes exactly the packets a test
 * builds (an attacker does not use a well-behaved library) and hands back every
 * packet the broker sends, in order.
 */
export class RawMqtt {
  readonly socket: Socket;
  readonly received: Packet[] = [];
  readonly closed: Promise<void>;
  #waiters: Array<{ cmd: string; resolve: (packet: Packet) => void }> = [];

  private constructor(socket: Socket) {
    this.socket = socket;
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on("packet", (packet: Packet) => {
      this.received.push(packet);
      const index = this.#waiters.findIndex((waiter) => waiter.cmd === packet.cmd);
      const waiter = index >= 0 ? this.#waiters.splice(index, 1)[0] : undefined;
      waiter?.resolve(packet);
    });
    parser.on("error", () => {});
    socket.on("data", (chunk: Buffer) => parser.parse(chunk));
    this.closed = new Promise((resolve) => socket.once("close", () => resolve()));
  }

  static async open(broker: RunningBroker, localAddress?: string): Promise<RawMqtt> {
    return new RawMqtt(await socketFrom(broker, localAddress));
  }

  /** Opens a socket and CONNECTs as `deviceId` with its derived password; resolves with the CONNACK. */
  static async device(
    broker: RunningBroker,
    deviceId: string,
    options: { clean?: boolean; localAddress?: string; password?: string } = {},
  ): Promise<{ client: RawMqtt; connack: Packet }> {
    const client = await RawMqtt.open(broker, options.localAddress);
    client.send({
      cmd: "connect",
      protocolId: "MQTT",
      protocolVersion: 4,
      clean: options.clean ?? true,
      clientId: deviceId,
      keepalive: 30,
      username: deviceId,
      password: Buffer.from(options.password ?? (await devicePassword(DEVICE_SECRET, deviceId))),
    });
    const connack = await client.next("connack");
    return { client, connack };
  }

  /**
   * A raw CONNECT (any fields, any protocol version); resolves with the CONNACK's
   * return code, or "closed" when the broker closes the socket first.
   */
  static async attempt(
    broker: RunningBroker,
    fields: { clientId: string; username?: string; password?: string; protocolVersion?: 4 | 5 },
    localAddress?: string,
  ): Promise<number | "closed"> {
    let client: RawMqtt;
    try {
      client = await RawMqtt.open(broker, localAddress);
    } catch {
      return "closed";
    }
    client.send({
      cmd: "connect",
      protocolId: "MQTT",
      protocolVersion: fields.protocolVersion ?? 4,
      clean: true,
      clientId: fields.clientId,
      keepalive: 30,
      ...(fields.username === undefined ? {} : { username: fields.username }),
      ...(fields.password === undefined ? {} : { password: Buffer.from(fields.password) }),
    });
    const answer = await Promise.race([
      client
        .next("connack", 2_000)
        .then((packet) => (packet.cmd === "connack" ? (packet.returnCode ?? 0) : -1)),
      client.closed.then(() => "closed" as const),
    ]).catch(() => "closed" as const);
    client.destroy();
    return answer;
  }

  send(packet: Packet): void {
    this.socket.write(mqttPacket.generate(packet));
  }

  /** The next packet of type `cmd` the broker sends (one already received counts). */
  next(cmd: Packet["cmd"], timeoutMs = 3_000): Promise<Packet> {
    const seen = this.received.findIndex((packet) => packet.cmd === cmd);
    if (seen >= 0) return Promise.resolve(this.received.splice(seen, 1)[0] as Packet);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${cmd} within ${timeoutMs} ms`)), timeoutMs);
      this.#waiters.push({
        cmd,
        resolve: (packet) => {
          clearTimeout(timer);
          const index = this.received.indexOf(packet);
          if (index >= 0) this.received.splice(index, 1);
          resolve(packet);
        },
      });
    });
  }

  /** SUBSCRIBE to `filters` (QoS 1 each) in one packet; resolves with the SUBACK's granted codes. */
  async subscribe(filters: string[], messageId = 1): Promise<number[]> {
    this.send({
      cmd: "subscribe",
      messageId,
      subscriptions: filters.map((topic) => ({ topic, qos: 1 as const })),
    });
    const suback = await this.next("suback");
    return suback.cmd === "suback" ? suback.granted.map(Number) : [];
  }

  destroy(): void {
    this.socket.destroy();
  }
}
