import { connectAsync } from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import { connectDevice, type Device } from "../../device-sdk/src/index.js";
import { MOSQUITTO_URL } from "../setup/service-urls.js";
import { type Operator, startOperator } from "./helpers/operator.js";
import { uniqueSuffix, waitFor } from "./helpers/wait.js";

// A third-party broker: the SDK must not depend on our broker's quirks. The run's private
// Mosquitto (allow_anonymous, so the password is ignored; or TEST_MOSQUITTO_URL's) keeps
// sessions and is shared by the files of the run, hence a fresh device id per test.

describe("device SDK against Mosquitto", () => {
  let device: Device | undefined;
  let operator: Operator | undefined;

  afterEach(async () => {
    await device?.close();
    await operator?.close();
    if (device) {
      // Leave no persistent session behind on the shared broker: a clean connect discards it.
      const wipe = await connectAsync(MOSQUITTO_URL, {
        clientId: device.id,
        clean: true,
        reconnectPeriod: 0,
      });
      await wipe.endAsync();
    }
  });

  it("receives a command published by another client and publishes its result", async () => {
    const deviceId = `sdk-mosq-${uniqueSuffix()}`;
    operator = await startOperator(MOSQUITTO_URL, deviceId);
    device = connectDevice({ deviceId, password: "ignored-by-mosquitto", url: MOSQUITTO_URL, keepalive: 10 });
    device.command("ping", (_params, { id, name }) => ({ pong: true, id, name }));
    await device.whenOnline();

    await operator.sendCommand({ id: "m1", name: "ping", params: {}, expiresAt: Date.now() + 30_000 });
    await waitFor(() => operator?.results.length === 1, "result from the device");
    expect(operator.results[0]).toEqual({
      id: "m1",
      ok: true,
      result: { pong: true, id: "m1", name: "ping" },
    });
  });

  it("gets a command queued in its persistent session while it was away", async () => {
    const deviceId = `sdk-mosq-${uniqueSuffix()}`;
    operator = await startOperator(MOSQUITTO_URL, deviceId);
    const first = connectDevice({ deviceId, password: "x", url: MOSQUITTO_URL });
    await first.whenOnline(); // creates the session and its subscription
    await first.close();

    await operator.sendCommand({ id: "q1", name: "ping", params: null, expiresAt: Date.now() + 30_000 });
    device = connectDevice({ deviceId, password: "x", url: MOSQUITTO_URL });
    device.command("ping", () => ({ pong: true }));
    await waitFor(() => operator?.results.length === 1, "result of the queued command");
    expect(operator.results[0]).toEqual({ id: "q1", ok: true, result: { pong: true } });
  });
});
