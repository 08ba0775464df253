import mqttPacket, { type Packet } from "mqtt-packet";

/** A small seeded PRNG (mulberry32): a failing fuzz run is replayed with its seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export class Fuzz {
  constructor(readonly random: () => number) {}

  int(max: number): number {
    return Math.floor(this.random() * max);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }

  bytes(length: number): Buffer {
    const out = Buffer.alloc(length);
    for (let i = 0; i < length; i++) out[i] = this.int(256);
    return out;
  }

  /** A topic an attacker would try: the contract's shapes, wildcards, $SYS, junk. */
  topic(deviceId: string): string {
    return this.pick([
      `devices/${deviceId}/commands`,
      `devices/${deviceId}/results`,
      `devices/${deviceId}/state`,
      `devices/${deviceId}/events/x`,
      "devices/other/commands",
      "#",
      "+/+",
      "$SYS/#",
      "",
      "a/".repeat(20),
      this.bytes(8).toString("latin1"),
    ]);
  }

  /** One well-formed packet of any of the 14 MQTT 3.1.1 types. */
  packet(deviceId: string, password: string): Packet {
    const messageId = 1 + this.int(65_535);
    const qos = this.pick([0, 1, 2] as const);
    const packets: Packet[] = [
      {
        cmd: "connect",
        protocolId: "MQTT",
        protocolVersion: this.pick([3, 4, 5] as const),
        clean: this.random() < 0.5,
        clientId: this.pick([deviceId, "", "x".repeat(this.int(300))]),
        keepalive: this.int(65_536),
        username: deviceId,
        password: Buffer.from(this.random() < 0.5 ? password : "wrong"),
      },
      { cmd: "connack", returnCode: 0, sessionPresent: false },
      {
        cmd: "publish",
        topic: this.topic(deviceId),
        payload:
          this.random() < 0.5 ? Buffer.from('{"id":"x","ok":true,"result":1}') : this.bytes(this.int(200)),
        qos,
        retain: this.random() < 0.2,
        dup: false,
        ...(qos > 0 ? { messageId } : {}),
      },
      { cmd: "puback", messageId },
      { cmd: "pubrec", messageId },
      { cmd: "pubrel", messageId },
      { cmd: "pubcomp", messageId },
      {
        cmd: "subscribe",
        messageId,
        subscriptions: Array.from({ length: 1 + this.int(5) }, () => ({ topic: this.topic(deviceId), qos })),
      },
      { cmd: "suback", messageId, granted: [0] },
      { cmd: "unsubscribe", messageId, unsubscriptions: [this.topic(deviceId)] },
      { cmd: "unsuback", messageId, granted: [] },
      { cmd: "pingreq" },
      { cmd: "pingresp" },
      { cmd: "disconnect" },
    ];
    return this.pick(packets);
  }

  /** Bytes of a packet, generated; or an empty buffer when mqtt-packet refuses the combination. */
  encode(packet: Packet): Buffer {
    try {
      return mqttPacket.generate(packet);
    } catch {
      return Buffer.alloc(0);
    }
  }

  /** A packet broken in one of the ways a parser must survive. */
  mutate(bytes: Buffer): Buffer {
    if (bytes.length === 0) return this.bytes(1 + this.int(64));
    const copy = Buffer.from(bytes);
    switch (this.int(6)) {
      case 0: // flip bytes
        for (let i = 0; i < 1 + this.int(4); i++) {
          const at = this.int(copy.length);
          copy[at] = (copy[at] ?? 0) ^ (1 << this.int(8));
        }
        return copy;
      case 1: // wrong flags in the fixed header
        copy[0] = ((copy[0] ?? 0) & 0xf0) | this.int(16);
        return copy;
      case 2: // truncated
        return copy.subarray(0, this.int(copy.length));
      case 3: // a wrong remaining length
        copy[1] = this.int(256);
        return copy;
      case 4: // a huge remaining length, and nothing after it
        return Buffer.from([copy[0] ?? 0x30, 0xff, 0xff, 0xff, this.pick([0x7f, 0xff])]);
      default: // trailing garbage
        return Buffer.concat([copy, this.bytes(this.int(100))]);
    }
  }
}
