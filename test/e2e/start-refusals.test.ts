/**
 * `npm start` refuses what it cannot do at once (issues 5 and 13): a taken port that was
 * asked for, named with its variable and another free port; wrong options, each named by its
 * flag, before anything starts. In the timing lane (vitest.config.ts), as "at once" is a
 * deadline: in the nice-19 lane on a slow machine the launcher's own start-up (tsx) took 10.4 s.
 */
import { describe, expect, it } from "vitest";
import { freePort } from "../../scripts/lib/ports.js";
import { Launcher } from "./launcher.js";
import { launcherEnv, listen } from "./start-helpers.js";

describe("npm start refuses", () => {
  it("refuses a taken MQTT_PORT at once, naming the variable and another port, and exits 1", async () => {
    const taken = await freePort();
    const holder = await listen(taken);
    try {
      const launcher = new Launcher(
        [],
        launcherEnv({ MQTT_PORT: taken, HTTP_PORT: await freePort(), EDGE_PORT: await freePort() }),
      );
      const { code } = await launcher.exited;
      expect(code).toBe(1);
      expect(launcher.output).toContain(
        `port ${taken} (MQTT_PORT, the broker's MQTT listener) is already in use`,
      );
      expect(launcher.output).toMatch(/choose another, e\.g\. MQTT_PORT=\d+ npm start/);
      expect(launcher.output).not.toContain("tether is up");
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  }, 20_000);

  it("refuses wrong options at once, each named by its flag, before starting anything", async () => {
    const startedAt = Date.now();
    const launcher = new Launcher(
      ["--simulate", "2", "--id-prefix", "bad prefix!", "--mqtt-port", "-5", "--host", "999.1.1.1"],
      launcherEnv({}),
    );
    const { code } = await launcher.exited;
    expect(code).toBe(2);
    expect(Date.now() - startedAt).toBeLessThan(10_000);
    expect(launcher.output).toContain('tether: --id-prefix "bad prefix!": device ids');
    expect(launcher.output).toContain("tether: --mqtt-port -5: a port is a whole number from 1 to 65535");
    expect(launcher.output).toContain("tether: --host 999.1.1.1 is not an IP address");
    expect(launcher.output).not.toContain("starting edge");
  }, 20_000);
});
