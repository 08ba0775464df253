import { afterEach, describe, expect, it } from "vitest";
import { cleanupAll, connectDevice, deviceId, startTestBroker, waitFor } from "./helpers.js";

afterEach(cleanupAll);

async function refusals(
  broker: Awaited<ReturnType<typeof startTestBroker>>,
): Promise<Record<string, number>> {
  const metric = await broker.metrics.refusals.get();
  return Object.fromEntries(metric.values.map((v) => [String(v.labels.reason), v.value]));
}

describe("topic ACL", () => {
  it("grants a device its own commands topic", async () => {
    const broker = await startTestBroker();
    const id = deviceId();
    const client = await connectDevice(broker, id, { subscribeCommands: false });
    const granted = await client.subscribeAsync(`devices/${id}/commands`, { qos: 1 });
    expect(granted[0]?.qos).toBe(1);
  });

  it.each([
    ["wildcards", (_id: string) => "devices/#", "wildcard"],
    ["single-level wildcards", (id: string) => `devices/${id}/+`, "wildcard"],
    ["$SYS", (_id: string) => "$SYS/#", "sys_topic"],
    ["another device's commands", (_id: string) => "devices/someone-else/commands", "other_device"],
    ["its own state", (id: string) => `devices/${id}/state`, "subscribe_not_commands"],
    ["topics outside the contract", (_id: string) => "news", "topic_not_allowed"],
  ])("refuses a subscription to %s and keeps the connection", async (_name, topicOf, reason) => {
    const broker = await startTestBroker();
    const id = deviceId();
    const client = await connectDevice(broker, id, { subscribeCommands: false });
    // mqtt.js turns a SUBACK of 0x80 into a rejected subscribe.
    await expect(client.subscribeAsync(topicOf(id), { qos: 1 })).rejects.toThrow(/Subscribe error/);
    expect((await refusals(broker))[reason]).toBe(1);
    expect(client.connected).toBe(true);
  });

  it.each([
    ["another device's state", (_id: string) => "devices/someone-else/state", "other_device"],
    ["its own commands topic", (id: string) => `devices/${id}/commands`, "publish_commands"],
    ["$SYS", (_id: string) => "$SYS/broker/x", "sys_topic"],
    ["a topic deeper than the contract", (id: string) => `devices/${id}/events/a/b`, "topic_depth"],
  ])("refuses a publish to %s by closing the connection", async (_name, topicOf, reason) => {
    const broker = await startTestBroker();
    const id = deviceId();
    const client = await connectDevice(broker, id, { subscribeCommands: false });
    const closed = new Promise<void>((resolve) => client.once("close", () => resolve()));
    client.publish(topicOf(id), "{}", { qos: 1 });
    await closed;
    await waitFor(async () => (await refusals(broker))[reason] === 1, 2_000, `refusal ${reason}`);
  });
});
