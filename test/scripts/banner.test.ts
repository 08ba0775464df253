import { describe, expect, it } from "vitest";
import { banner } from "../../scripts/lib/banner.js";

const system = {
  urls: {
    edge: "http://127.0.0.1:8787",
    brokerHttp: "http://127.0.0.1:8080",
    mqtt: "mqtt://127.0.0.1:23871",
  },
  secrets: {
    DEVICE_SECRET: "dev-device",
    BROKER_API_TOKEN: "dev-broker",
    EDGE_EVENTS_SECRET: "dev-events",
    RAILS_API_TOKEN: "dev-rails",
    CLIENT_JWT_SECRET: "dev-jwt",
  },
  generated: [],
};

describe("npm start's banner", () => {
  it("says what the curl line answers while no router is connected, and how to start one", () => {
    const text = banner(system, ["router-0"], "token", 0);
    expect(text).toContain("curl -s -X POST http://127.0.0.1:8787/v1/devices/router-0/commands");
    expect(text).toContain(
      "(409 device_offline until router-0 connects: npm start -- --simulate 1 starts one)",
    );
  });

  it("prints the ports in use in every URL, and no hint when a simulated router answers", () => {
    const text = banner(system, ["router-0"], "token", 1);
    expect(text).toContain("MQTT  mqtt://127.0.0.1:23871");
    expect(text).not.toContain("device_offline");
  });
});
