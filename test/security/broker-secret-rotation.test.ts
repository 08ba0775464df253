/**
 * Issue 10 §7: rotating the fleet secret without downtime. While
 * DEVICE_SECRET_PREVIOUS is set, passwords derived from it are still accepted
 * and counted apart, so an operator sees when no router uses the old secret
 * any more; once it is unset they are refused. `credentials` always derives
 * from the current secret.
 */
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../broker/src/config.js";
import { devicePassword } from "../../protocol/src/index.js";
import { cleanupAll, deviceId, startTestBroker, tryConnect } from "../broker/helpers.js";
import { labelled, refusals } from "./helpers.js";

afterEach(cleanupAll);

const OLD_SECRET = "old-fleet-secret-0123456789abcdef";
const NEW_SECRET = "new-fleet-secret-0123456789abcdef";

async function connectWith(broker: Awaited<ReturnType<typeof startTestBroker>>, id: string, secret: string) {
  return tryConnect(broker, { clientId: id, username: id, password: await devicePassword(secret, id) });
}

describe("fleet secret rotation", () => {
  it("accepts the previous secret while it is set, counted apart, and refuses it once it is dropped", async () => {
    const rotating = await startTestBroker({ deviceSecret: NEW_SECRET, deviceSecretPrevious: OLD_SECRET });
    const notYetUpdated = deviceId("old");
    const updated = deviceId("new");
    expect(await connectWith(rotating, notYetUpdated, OLD_SECRET)).toBeNull();
    expect(await connectWith(rotating, updated, NEW_SECRET)).toBeNull();
    expect(await connectWith(rotating, deviceId("other"), "some-other-secret-0123456789")).not.toBeNull();
    expect(await labelled(rotating.metrics.authAccepted, "secret")).toEqual({ previous: 1, current: 1 });
    await rotating.close();

    const rotated = await startTestBroker({ deviceSecret: NEW_SECRET });
    expect((await connectWith(rotated, notYetUpdated, OLD_SECRET))?.message).toMatch(
      /Bad username or password/i,
    );
    expect(await connectWith(rotated, updated, NEW_SECRET)).toBeNull();
    expect(await refusals(rotated)).toEqual({ bad_password: 1 });
    expect(await labelled(rotated.metrics.authAccepted, "secret")).toEqual({ current: 1 });
  });

  it("derives `credentials` from the current secret only", async () => {
    const cli = loadConfig(["credentials", "router-7"], {
      DEVICE_SECRET: NEW_SECRET,
      DEVICE_SECRET_PREVIOUS: OLD_SECRET,
    });
    expect(cli).toMatchObject({ command: "credentials", deviceSecret: NEW_SECRET });
  });
});
