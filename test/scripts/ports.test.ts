import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { choosePorts, freePort, type PortClaim } from "../../scripts/lib/ports.js";

const ephemeralLow = Number(
  readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0],
);

/** Bound: the listeners one test opens; closed after it. */
const held: Server[] = [];
afterEach(async () => {
  await Promise.all(held.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

/** Something else listening on a port, as Mosquitto does on 1883. */
async function hold(port: number): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ port, host: "127.0.0.1" }, resolve);
  });
  held.push(server);
  return port;
}

const claim = (port: number, extra: Partial<PortClaim> = {}): PortClaim => ({
  port,
  name: "MQTT_PORT",
  what: "the broker's MQTT listener",
  label: "MQTT port",
  ...extra,
});

describe("freePort", () => {
  it("hands out bindable ports below the ephemeral range, which outgoing connections never take", async () => {
    const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(10_000);
      expect(port).toBeLessThan(ephemeralLow);
    }
    await hold(ports[0] ?? 0);
  });
});

describe("choosing npm start's ports", () => {
  it("keeps a default port that is free", async () => {
    const port = await freePort();
    expect(await choosePorts([claim(port)], "127.0.0.1")).toEqual({
      ports: [port],
      notices: [],
      problems: [],
    });
  });

  it("replaces a taken default by a free port and says so in one line", async () => {
    const taken = await hold(await freePort());
    const { ports, notices, problems } = await choosePorts(
      [claim(taken, { usualHolder: " (mosquitto?)" })],
      "127.0.0.1",
    );
    expect(problems).toEqual([]);
    expect(ports[0]).not.toBe(taken);
    expect(notices).toEqual([`MQTT port ${taken} is in use (mosquitto?); using ${ports[0]}`]);
    await hold(ports[0] ?? 0); // it really is free
  });

  it("stops on a taken port that was set explicitly, naming its variable", async () => {
    const taken = await hold(await freePort());
    const { notices, problems } = await choosePorts([claim(taken, { explicit: true })], "127.0.0.1");
    expect(notices).toEqual([]);
    expect(problems).toEqual([
      expect.stringMatching(
        new RegExp(
          `^port ${taken} \\(MQTT_PORT, the broker's MQTT listener\\) is already in use on 127\\.0\\.0\\.1; `,
        ),
      ),
    ]);
  });

  it("never gives a default the port another claim set explicitly", async () => {
    const port = await freePort();
    const { ports, notices } = await choosePorts(
      [claim(port, { name: "HTTP_PORT", explicit: true }), claim(port, { label: "Edge port" })],
      "127.0.0.1",
    );
    expect(ports[0]).toBe(port);
    expect(ports[1]).not.toBe(port);
    expect(notices).toEqual([`Edge port ${port} is in use; using ${ports[1]}`]);
  });
});
