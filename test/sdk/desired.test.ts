import { connectAsync, type MqttClient } from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import { connectDevice, type Device } from "../../device-sdk/src/index.js";
import { topics } from "../../protocol/src/index.js";
import { MOSQUITTO_URL } from "../setup/service-urls.js";
import { type Operator, startOperator } from "./helpers/operator.js";
import { uniqueSuffix, waitFor } from "./helpers/wait.js";

// device.onDesired (issue 15) against a third-party broker: another client plays the
// broker's part and publishes desired documents on the device's desired topic.

describe("device SDK: desired state", () => {
  let device: Device | undefined;
  let operator: Operator | undefined;
  let publisher: MqttClient | undefined;

  afterEach(async () => {
    await device?.close();
    await operator?.close();
    await publisher?.endAsync(true);
    if (device) {
      const wipe = await connectAsync(MOSQUITTO_URL, {
        clientId: device.id,
        clean: true,
        reconnectPeriod: 0,
      });
      await wipe.endAsync();
    }
    device = operator = publisher = undefined;
  });

  async function setup(): Promise<{
    deviceId: string;
    send: (version: number, desired: unknown) => Promise<void>;
  }> {
    const deviceId = `sdk-desired-${uniqueSuffix()}`;
    operator = await startOperator(MOSQUITTO_URL, deviceId);
    const client = await connectAsync(MOSQUITTO_URL, {
      clientId: `broker-${deviceId}`,
      clean: true,
      reconnectPeriod: 0,
    });
    publisher = client;
    const send = async (version: number, desired: unknown) => {
      await client.publishAsync(topics.desired(deviceId), JSON.stringify({ version, desired }), { qos: 1 });
    };
    return { deviceId, send };
  }

  const lastState = () => operator?.states.at(-1);

  it("applies a document and reports desiredVersion with what the handler returned", async () => {
    const { deviceId, send } = await setup();
    device = connectDevice({ deviceId, password: "x", url: MOSQUITTO_URL });
    device.onDesired((desired) => ({ wifi: desired.wifi }));
    await device.whenOnline();
    await send(1, { wifi: { ssid: "home" } });
    await waitFor(() => lastState()?.desiredVersion === 1, "desiredVersion 1");
    expect(lastState()).toEqual({ wifi: { ssid: "home" }, desiredVersion: 1, desiredError: null });
    expect(device.stats()).toMatchObject({ desiredApplied: 1, desiredVersion: 1 });
  });

  it("reports desiredError when the handler throws, and retries that version when it comes again", async () => {
    const { deviceId, send } = await setup();
    device = connectDevice({ deviceId, password: "x", url: MOSQUITTO_URL });
    let fail = true;
    device.onDesired(() => {
      if (fail) throw new Error("radio busy");
      return {};
    });
    await device.whenOnline();
    await send(1, { band: "6GHz" });
    await waitFor(() => lastState()?.desiredError !== undefined, "desiredError");
    expect(lastState()).toEqual({
      desiredError: { version: 1, code: "handler_error", message: "radio busy" },
    });
    fail = false;
    await send(1, { band: "6GHz" });
    await waitFor(() => lastState()?.desiredVersion === 1, "desiredVersion 1 on the retry");
    expect(lastState()).toMatchObject({ desiredError: null });
  });

  it("never runs one version twice at once; a newer version aborts and supersedes the running one", async () => {
    const { deviceId, send } = await setup();
    device = connectDevice({ deviceId, password: "x", url: MOSQUITTO_URL });
    const runs: { version: number; aborted: boolean }[] = [];
    const releases = new Map<number, () => void>();
    device.onDesired(async (desired, { version, signal }) => {
      const run = { version, aborted: false };
      runs.push(run);
      await new Promise<void>((resolve, reject) => {
        releases.set(version, resolve);
        signal.addEventListener("abort", () => {
          run.aborted = true;
          reject(signal.reason);
        });
      });
      return desired;
    });
    await device.whenOnline();
    await send(1, { n: 1 });
    await send(1, { n: 1 });
    await waitFor(() => runs.length === 1, "version 1 running");
    await send(2, { n: 2 });
    await waitFor(() => runs.length === 2, "version 2 running");
    expect(runs[0]).toEqual({ version: 1, aborted: true });
    releases.get(1)?.();
    releases.get(2)?.();
    await waitFor(() => lastState()?.desiredVersion === 2, "desiredVersion 2");
    // An older or equal version after that changes nothing.
    await send(1, { n: 1 });
    await send(2, { n: 2 });
    await send(3, { n: 3 });
    await waitFor(() => runs.length === 3, "version 3 running");
    expect(runs.map((run) => run.version)).toEqual([1, 2, 3]);
    expect(device.stats()).toMatchObject({ desiredSuperseded: 1, desiredApplied: 1 });
  });

  it("keeps the latest document that came before the handler, and applies it once one is registered", async () => {
    const { deviceId, send } = await setup();
    device = connectDevice({ deviceId, password: "x", url: MOSQUITTO_URL });
    await device.whenOnline();
    await send(1, { a: 1 });
    await send(2, { a: 2 });
    await send(3, { bad: true }).then(() =>
      publisher?.publishAsync(topics.desired(deviceId), "not json", { qos: 1 }),
    );
    await waitFor(() => device?.stats().desiredReceived === 4, "four documents received");
    const seen: number[] = [];
    device.onDesired((desired, { version }) => {
      seen.push(version);
      return desired;
    });
    await waitFor(() => lastState()?.desiredVersion === 3, "desiredVersion 3");
    expect(seen).toEqual([3]);
  });
});
