import { readFileSync } from "node:fs";
import { dirname } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../broker/src/config.js";
import { hasOpenssl, selfSignedCertificate } from "./certificates.js";
import {
  API_TOKEN,
  answerCommands,
  api,
  cleanupAll,
  connectDevice,
  DEVICE_SECRET,
  deviceId,
  startTestBroker,
} from "./helpers.js";

afterEach(cleanupAll);

describe.skipIf(!hasOpenssl)("MQTT over TLS (skipped: no openssl binary to issue a test certificate)", () => {
  it("serves mqtts with TLS_CERT_FILE and TLS_KEY_FILE, and a router that trusts the CA round-trips a command", async () => {
    const { certFile, keyFile } = selfSignedCertificate();
    const cli = loadConfig([], {
      DEVICE_SECRET,
      BROKER_API_TOKEN: API_TOKEN,
      MQTT_PORT: "0",
      HTTP_PORT: "0",
      HOST: "127.0.0.1",
      TLS_CERT_FILE: certFile,
      TLS_KEY_FILE: keyFile,
      // The certificate's temp dir, not the default .tether-state in the working copy.
      STATE_DIR: dirname(certFile),
    });
    if (cli.command !== "serve") throw new Error(`expected serve, got ${cli.command}`);
    const broker = await startTestBroker(cli.config);
    expect(broker.mqttUrl).toMatch(/^mqtts:\/\//);

    const id = deviceId();
    const device = await connectDevice(broker, id, { ca: readFileSync(certFile), rejectUnauthorized: true });
    answerCommands(device, id, (command) => ({ id: command.id, ok: true, result: { secure: true } }));
    const reply = await api(broker, `/v1/devices/${id}/commands`, { body: { name: "ping" } });
    expect(reply).toMatchObject({ status: 200, body: { ok: true, result: { secure: true } } });
  });

  it("refuses a router that does not trust the broker's certificate", async () => {
    const { certFile, keyFile } = selfSignedCertificate();
    const broker = await startTestBroker({ tlsCertFile: certFile, tlsKeyFile: keyFile });
    await expect(connectDevice(broker, deviceId(), { rejectUnauthorized: true })).rejects.toThrow(
      /self.signed|certificate/i,
    );
  });
});
