/**
 * `npm start` itself (issues 5 and 13): the launcher brings up broker + edge + a
 * simulated router on free ports when the defaults are taken, its printed curl line and
 * console URL work (the console in Debian's Chromium), Ctrl-C stops every child (a taken
 * port that was asked for, and wrong options, are refused at once: start-refusals.test.ts); the
 * console edits a router's desired state and sees it applied (issue 15); the edge runs
 * with wrangler's DevTools inspector off (issue 14). The console's
 * Chromium tests live in start-console.ts, registered here against the one launcher.
 */
import { existsSync } from "node:fs";
import type { Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { edgeFetch, sleep, until } from "./helpers.js";
import { commandLine, descendants, Launcher, listeningPorts, portIsFree } from "./launcher.js";
import { consoleTests } from "./start-console.js";
import { launcherEnv, listen, match } from "./start-helpers.js";

describe.sequential("npm start", () => {
  describe.sequential("with --simulate 1 and its default ports taken", () => {
    // The default prefix: each launcher has its own broker and edge state, and the screenshot reads well.
    const idPrefix = "router-";
    /** The ports the launcher announced instead of the taken defaults. */
    const ports = { MQTT_PORT: 0, HTTP_PORT: 0, EDGE_PORT: 0 };
    /** Bound: the three defaults, held until the launcher has chosen other ports. */
    const holders: Server[] = [];
    let launcher: Launcher;
    /** Every process the launcher started, seen while it runs (for the Ctrl-C test and cleanup). */
    let children: number[] = [];

    const releaseDefaults = () =>
      Promise.all(holders.splice(0).map((holder) => new Promise((resolve) => holder.close(resolve))));

    beforeAll(async () => {
      // Where 1883 is free, play the machine's Mosquitto (here it usually is the machine's own).
      for (const port of [1883, 8080, 8787]) {
        const holder = await listen(port).catch(() => null); // taken already: by someone else
        if (holder) holders.push(holder);
      }
      launcher = new Launcher(["--simulate", "1"], launcherEnv({}));
      await launcher.waitForOutput("Ctrl-C stops everything.", 90_000);
      children = descendants(launcher.pid);
      ports.MQTT_PORT = Number(
        match(launcher.output, /MQTT port 1883 is in use \(mosquitto\?\); using (\d+)/, "the MQTT port"),
      );
      ports.HTTP_PORT = Number(
        match(launcher.output, /HTTP port 8080 is in use; using (\d+)/, "the HTTP port"),
      );
      ports.EDGE_PORT = Number(
        match(launcher.output, /Edge port 8787 is in use; using (\d+)/, "the edge port"),
      );
      await releaseDefaults(); // chosen: others on this machine may want them back
    }, 100_000);

    afterAll(async () => {
      // Only does something when a test failed before Ctrl-C did its job.
      launcher?.killAll(children);
      await releaseDefaults();
    });

    it("says in one line each which port replaced a taken default, and uses it in every URL it prints", async () => {
      const out = launcher.output;
      expect(out).toContain(`tether: MQTT port 1883 is in use (mosquitto?); using ${ports.MQTT_PORT}\n`);
      expect(new Set(Object.values(ports)).size).toBe(3);
      expect(out).toContain(`Web console   http://127.0.0.1:${ports.EDGE_PORT}/#device=${idPrefix}0&token=`);
      expect(out).toContain(`Rails API     http://127.0.0.1:${ports.EDGE_PORT}/v1/devices/{id}/commands`);
      expect(out).toContain(
        `Broker API    http://127.0.0.1:${ports.HTTP_PORT}   MQTT  mqtt://127.0.0.1:${ports.MQTT_PORT}`,
      );
      expect(out).toContain(`against mqtt://127.0.0.1:${ports.MQTT_PORT}`);
      for (const taken of [":1883", ":8080", ":8787"])
        expect(out).not.toMatch(new RegExp(`127\\.0\\.0\\.1${taken}\\b`));
    });

    it("prints the URLs, dev-only secrets and a curl line that reaches the router through edge and broker", async () => {
      const out = launcher.output;
      expect(out).toContain("DEV-ONLY secrets generated for this run");

      const url = match(out, /curl -s -X POST (\S+)/, "a curl line");
      const token = match(out, /-H 'Authorization: Bearer ([^']+)'/, "the Rails token in the curl line");
      const body = match(out, /-d '([^']+)'/, "the curl body");
      expect(url).toBe(`http://127.0.0.1:${ports.EDGE_PORT}/v1/devices/${idPrefix}0/commands`);
      const response = await edgeFetch(url, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body,
      });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ id: expect.any(String), ok: true, result: { pong: true } });
    });

    it("runs the edge with wrangler's DevTools inspector off: no port of its processes answers DevTools", async () => {
      // Issue 14: with the inspector on (`wrangler dev`), every subrequest streams DevTools
      // events to wrangler's Node process and the local command knee falls below 100/s.
      const listening = listeningPorts(children);
      expect(listening).toContain(ports.EDGE_PORT); // the probe sees the edge's own port
      const devTools: string[] = [];
      for (const port of listening) {
        // wrangler's inspector proxy and workerd's own inspector both answer this (DevTools' discovery).
        const body = await fetch(`http://127.0.0.1:${port}/json/version`, {
          signal: AbortSignal.timeout(2_000),
        })
          .then((response) => response.text())
          .catch(() => ""); // not HTTP (MQTT), or no answer
        if (body.includes("Protocol-Version")) devTools.push(`${port}: ${body}`);
      }
      expect(devTools).toEqual([]);
      // and the launcher (scripts/edge-dev.ts) says so.
      expect(launcher.output).toContain(
        `[edge] edge ready on http://127.0.0.1:${ports.EDGE_PORT}; wrangler's inspector off\n`,
      );
    });

    // Chromium against the console this launcher serves; before Ctrl-C, which stops it.
    consoleTests(() => launcher, idPrefix);

    it("stops every child on Ctrl-C — workerd included — exits 0, frees its ports and removes its files", async () => {
      const running = children.map((pid) => commandLine(pid) ?? "");
      expect(running.some((cmd) => cmd.includes("workerd"))).toBe(true);
      expect(running.some((cmd) => cmd.includes("dist/broker/cli.js"))).toBe(true);
      expect(running.some((cmd) => cmd.includes("simulator/cli.ts"))).toBe(true);
      const stateDir = match(running.join("\n"), /--env-file (\S+)\/edge\.env/, "wrangler's env file");
      expect(existsSync(stateDir)).toBe(true);

      // One Ctrl-C as `npm start` delivers it: the terminal's SIGINT to the group, and the
      // same signal again a moment later, forwarded by npm to its script. Still one graceful stop.
      const interruptedAt = Date.now();
      launcher.interrupt();
      await sleep(50);
      launcher.interrupt();
      const { code } = await launcher.exited;
      const stopMs = Date.now() - interruptedAt;
      expect(code).toBe(0);
      expect(launcher.output).toContain("tether: stopped.");
      expect(launcher.output).not.toContain("tether: killed.");
      expect(stopMs).toBeLessThan(15_000);

      const leftovers = await until(
        "every child gone",
        () => {
          const alive = children
            .map((pid) => [pid, commandLine(pid)] as const)
            .filter(([, cmd]) => cmd !== null);
          return alive.length === 0 ? [] : false;
        },
        5_000,
      ).catch(() => children.map((pid) => commandLine(pid)).filter((cmd) => cmd !== null));
      expect(leftovers).toEqual([]);
      for (const port of Object.values(ports)) {
        await until(`port ${port} free`, () => portIsFree(port), 5_000);
      }
      expect(existsSync(stateDir)).toBe(false);
      // The console's tab went away without a close frame: workerd's local-only Broken-pipe
      // trace is shown as one sentence, never as a stack (scripts/lib/workerd-noise.ts).
      expect(launcher.output).not.toMatch(/::write\(.*Broken pipe|stack: \S*workerd@/);
    }, 30_000);
  });
});
