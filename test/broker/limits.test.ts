import { afterEach, describe, expect, it } from "vitest";
import { devicePassword } from "../../protocol/src/index.js";
import {
  answerCommands,
  api,
  cleanupAll,
  closedAfter,
  connectDevice,
  connectPacket,
  DEVICE_SECRET,
  deviceId,
  rawSocket,
  startTestBroker,
  waitFor,
} from "./helpers.js";

afterEach(cleanupAll);

async function counter(
  metric: {
    get(): Promise<{ values: Array<{ labels: Record<string, string | number | undefined>; value: number }> }>;
  },
  label: string,
  value: string,
): Promise<number> {
  return (await metric.get()).values.find((v) => v.labels[label] === value)?.value ?? 0;
}

describe("limits and bad input", () => {
  it("closes the connection on a payload above MAX_PAYLOAD_BYTES and counts it", async () => {
    const broker = await startTestBroker({ maxPayloadBytes: 1024 });
    const id = deviceId();
    const client = await connectDevice(broker, id);
    const closed = new Promise<void>((resolve) => client.once("close", () => resolve()));
    client.publish(`devices/${id}/events/log`, JSON.stringify({ pad: "x".repeat(1100) }), { qos: 0 });
    await closed;
    await waitFor(async () => (await counter(broker.metrics.refusals, "reason", "payload_too_large")) === 1);
  });

  it("closes the connection as soon as a packet header announces a huge body", async () => {
    const broker = await startTestBroker({ maxPayloadBytes: 1024 });
    const id = deviceId();
    const socket = await rawSocket(broker);
    socket.write(
      connectPacket({
        clientId: id,
        username: id,
        password: await devicePassword(DEVICE_SECRET, id),
        keepalive: 30,
      }),
    );
    // PUBLISH announcing 200 MB; only the header is sent.
    socket.write(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x64]));
    const elapsed = await closedAfter(socket);
    expect(elapsed).toBeLessThan(1_000);
    expect(await counter(broker.metrics.refusals, "reason", "payload_too_large")).toBe(1);
  });

  it("closes the connection on a malformed packet", async () => {
    const broker = await startTestBroker();
    const id = deviceId();
    const socket = await rawSocket(broker);
    socket.write(
      connectPacket({
        clientId: id,
        username: id,
        password: await devicePassword(DEVICE_SECRET, id),
        keepalive: 30,
      }),
    );
    await waitFor(async () => (await api(broker, `/v1/devices/${id}`)).body?.toString() !== undefined);
    // Packet type 0 is reserved [MQTT-2.2.1].
    socket.write(Buffer.from([0x00, 0x00]));
    const elapsed = await closedAfter(socket);
    expect(elapsed).toBeLessThan(1_000);
    await waitFor(
      async () => ((await api(broker, `/v1/devices/${id}`)).body as { online: boolean }).online === false,
    );
  });

  it("drops invalid JSON on results and state with a counted reason and keeps the connection", async () => {
    const broker = await startTestBroker();
    const id = deviceId();
    const client = await connectDevice(broker, id);
    await client.publishAsync(`devices/${id}/state`, "{not json", { qos: 1 });
    await client.publishAsync(`devices/${id}/state`, "[1,2]", { qos: 1 });
    await client.publishAsync(`devices/${id}/results`, "nope", { qos: 1 });
    await client.publishAsync(`devices/${id}/results`, JSON.stringify({ id: "x" }), { qos: 1 });
    await waitFor(
      async () => (await counter(broker.metrics.invalidPayloads, "reason", "invalid_json")) === 2,
    );
    expect(await counter(broker.metrics.invalidPayloads, "reason", "state_not_object")).toBe(1);
    expect(await counter(broker.metrics.invalidPayloads, "reason", "invalid_result")).toBe(1);
    expect(client.connected).toBe(true);
    answerCommands(client, id, (command) => ({ id: command.id, ok: true, result: "still here" }));
    const reply = await api(broker, `/v1/devices/${id}/commands`, { body: { name: "ping" } });
    expect(reply).toMatchObject({ status: 200, body: { result: "still here" } });
  });
});
