import { afterEach, describe, expect, it } from "vitest";
import { devicePassword } from "../../protocol/src/index.js";
import { api, cleanupAll, DEVICE_SECRET, deviceId, startTestBroker, tryConnect } from "./helpers.js";

afterEach(cleanupAll);

async function refusalCount(
  broker: Awaited<ReturnType<typeof startTestBroker>>,
  reason: string,
): Promise<number> {
  const metric = await broker.metrics.refusals.get();
  return metric.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

describe("device authentication", () => {
  it("accepts a device whose client id, username and derived password match", async () => {
    const broker = await startTestBroker();
    const id = deviceId();
    const error = await tryConnect(broker, {
      clientId: id,
      username: id,
      password: await devicePassword(DEVICE_SECRET, id),
    });
    expect(error).toBeNull();
  });

  it("refuses a wrong password and counts the refusal", async () => {
    const broker = await startTestBroker();
    const id = deviceId();
    const error = await tryConnect(broker, { clientId: id, username: id, password: "not-the-password" });
    expect(error?.message).toMatch(/Bad username or password/i);
    expect(await refusalCount(broker, "bad_password")).toBe(1);
  });

  it("refuses a password derived for another device", async () => {
    const broker = await startTestBroker();
    const id = deviceId();
    const error = await tryConnect(broker, {
      clientId: id,
      username: id,
      password: await devicePassword(DEVICE_SECRET, deviceId()),
    });
    expect(error?.message).toMatch(/Bad username or password/i);
  });

  it("refuses a username that differs from the client id", async () => {
    const broker = await startTestBroker();
    const id = deviceId();
    const other = deviceId();
    const error = await tryConnect(broker, {
      clientId: id,
      username: other,
      password: await devicePassword(DEVICE_SECRET, other),
    });
    expect(error).not.toBeNull();
    expect(await refusalCount(broker, "id_mismatch")).toBe(1);
  });

  it("refuses a client id that is not a device id", async () => {
    const broker = await startTestBroker();
    const id = "bad id!";
    const error = await tryConnect(broker, { clientId: id, username: id, password: "x" });
    expect(error?.message).toMatch(/Identifier rejected/i);
    expect(await refusalCount(broker, "bad_client_id")).toBe(1);
  });

  it("refuses a revoked device even with the right password", async () => {
    const id = deviceId();
    const broker = await startTestBroker({ revokedDevices: [id] });
    const error = await tryConnect(broker, {
      clientId: id,
      username: id,
      password: await devicePassword(DEVICE_SECRET, id),
    });
    expect(error?.message).toMatch(/Not authorized/i);
    expect(await refusalCount(broker, "revoked")).toBe(1);
    const view = await api(broker, `/v1/devices/${id}`);
    expect(view.body).toMatchObject({ online: false });
  });
});
