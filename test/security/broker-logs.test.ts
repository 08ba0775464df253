/**
 * Issue 10, attack 5: logs never carry attacker-sized data, and refusals are
 * rate-limited (one line per reason per interval, with a count) while the
 * metrics count every one. Plus issue 13's broker log papercuts: an MQTT 5
 * CONNECT, a missing username, the device id on payload_too_large, and a result
 * nobody waits for any more.
 */
import { afterEach, describe, expect, it } from "vitest";
import { topics } from "../../protocol/src/index.js";
import {
  answerCommands,
  api,
  cleanupAll,
  connectDevice,
  deviceId,
  startTestBroker,
  waitFor,
} from "../broker/helpers.js";
import { capturedLogger, labelled, linesWith, refusals } from "./helpers.js";
import { RawMqtt } from "./raw-client.js";

afterEach(cleanupAll);

/** Longest log line allowed: a line is a few short fields, whatever the attacker sent. */
const MAX_LINE_BYTES = 1_024;

const rawConnect = RawMqtt.attempt;

describe("the broker's log under attack", () => {
  it("keeps every line small and writes one line per refusal reason per interval, while counting each", async () => {
    const { logger, lines } = capturedLogger();
    const broker = await startTestBroker({ logger });

    // A 60 KB client id, and a 60 KB username.
    expect(await rawConnect(broker, { clientId: "x".repeat(60_000), username: "u", password: "p" })).toBe(2);
    const id = deviceId();
    expect(await rawConnect(broker, { clientId: id, username: "y".repeat(60_000), password: "p" })).toBe(4);

    // One SUBSCRIBE with 2,000 refused filters.
    const { client } = await RawMqtt.device(broker, id);
    const filters = Array.from({ length: 2_000 }, (_, i) => `junk/${i}/${"z".repeat(12)}`);
    const granted = await client.subscribe(filters);
    expect(granted.filter((code) => code === 128)).toHaveLength(2_000);

    // 30 bad passwords from one address: the burst of 20, then the 21st starts the address's cool-down.
    const outcomes: Array<number | "closed"> = [];
    for (let i = 0; i < 30; i++) {
      outcomes.push(await rawConnect(broker, { clientId: id, username: id, password: "wrong" }, "127.0.3.1"));
    }
    expect(outcomes.slice(0, 21)).toEqual(Array(21).fill(4));
    expect(outcomes.slice(21)).toEqual(Array(9).fill("closed"));

    const counted = await refusals(broker);
    expect(counted).toMatchObject({
      bad_client_id: 1,
      id_mismatch: 1,
      topic_not_allowed: 2_000,
      bad_password: 21,
    });
    expect(counted.address_cooldown).toBeGreaterThanOrEqual(9);

    for (const line of lines) expect(Buffer.byteLength(line)).toBeLessThanOrEqual(MAX_LINE_BYTES);
    const perReason = new Map<string, number>();
    for (const entry of linesWith(lines, "refused")) {
      const reason = String(entry.reason);
      perReason.set(reason, (perReason.get(reason) ?? 0) + 1);
    }
    // Within one interval (10 s) each reason has written its first line only; the count comes later.
    for (const [reason, count] of perReason) expect(count, reason).toBe(1);
    const longId = linesWith(lines, "refused").find((entry) => entry.reason === "bad_client_id");
    expect(String(longId?.clientId)).toMatch(/^x{80}…\(\+59920 chars\)$/);
  });

  it("writes the count of what it held back once the interval ends", async () => {
    const { logger, lines } = capturedLogger();
    const broker = await startTestBroker({ logger, logIntervalMs: 200 });
    const { client } = await RawMqtt.device(broker, deviceId());
    await client.subscribe(Array.from({ length: 50 }, (_, i) => `junk/${i}`));
    await waitFor(
      () => linesWith(lines, "refused").some((entry) => entry.count === 49),
      2_000,
      "summary line",
    );
    expect(linesWith(lines, "refused")).toEqual([
      expect.objectContaining({ reason: "topic_not_allowed", topic: "junk/0" }),
      expect.objectContaining({ reason: "topic_not_allowed", count: 49, intervalMs: 200 }),
    ]);
  });
});

describe("the broker's log tells a newcomer what happened", () => {
  it("logs and counts an MQTT 5 CONNECT, which is refused with CONNACK 1", async () => {
    const { logger, lines } = capturedLogger();
    const broker = await startTestBroker({ logger });
    const id = deviceId();
    expect(await rawConnect(broker, { clientId: id, username: id, password: "p", protocolVersion: 5 })).toBe(
      1,
    );
    expect((await refusals(broker)).protocol_version).toBe(1);
    expect(linesWith(lines, "refused")).toEqual([
      expect.objectContaining({ reason: "protocol_version", clientId: id, protocolVersion: 5 }),
    ]);
  });

  it("names a missing username as such, not as an id mismatch", async () => {
    const { logger, lines } = capturedLogger();
    const broker = await startTestBroker({ logger });
    const id = deviceId();
    expect(await rawConnect(broker, { clientId: id })).toBe(4);
    expect(await refusals(broker)).toEqual({ missing_username: 1 });
    expect(linesWith(lines, "refused")).toEqual([
      expect.objectContaining({ reason: "missing_username", clientId: id }),
    ]);
  });

  it("puts the device id on the payload_too_large line of an oversized packet", async () => {
    const { logger, lines } = capturedLogger();
    const broker = await startTestBroker({ logger, maxPayloadBytes: 1024 });
    const id = deviceId();
    const { client } = await RawMqtt.device(broker, id);
    // A PUBLISH header announcing 200 MB; only the header is sent.
    client.socket.write(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x64]));
    await client.closed;
    await waitFor(() => linesWith(lines, "refused").length > 0, 2_000, "the refusal line");
    expect(linesWith(lines, "refused")).toEqual([
      expect.objectContaining({ reason: "payload_too_large", deviceId: id }),
    ]);
  });

  it("logs and counts a result that arrives after its caller was answered 504", async () => {
    const { logger, lines } = capturedLogger();
    const broker = await startTestBroker({ logger });
    const id = deviceId();
    const device = await connectDevice(broker, id, { subscribeCommands: false });
    await device.subscribeAsync(topics.commands(id), { qos: 1 });
    const received = answerCommands(device, id, () => undefined);
    const reply = await api(broker, `/v1/devices/${id}/commands`, { body: { name: "slow", timeoutMs: 100 } });
    expect(reply.status).toBe(504);
    const commandId = received[0]?.id;
    device.publish(topics.results(id), JSON.stringify({ id: commandId, ok: true, result: "late" }), {
      qos: 1,
    });
    await waitFor(() => linesWith(lines, "notice").length > 0, 2_000, "the late-result line");
    expect(linesWith(lines, "notice")).toEqual([
      expect.objectContaining({ kind: "late_result", deviceId: id, commandId, answered: "504 timeout" }),
    ]);
    expect(await labelled(broker.metrics.unmatchedResults, "kind")).toEqual({ late: 1 });
  });
});
