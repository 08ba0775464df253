/**
 * `npm start` itself (issues 5 and 13): the launcher brings up broker + edge + a
 * simulated router on free ports when the defaults are taken, its printed curl line and
 * console URL work (the console in Debian's Chromium), Ctrl-C stops every child, a
 * taken port that was asked for is refused clearly, and wrong options fail at once; the
 * console edits a router's desired state and sees it applied (issue 15).
 */
import { existsSync, rmSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mintClientToken } from "../../scripts/lib/dev-secrets.js";
import { freePort } from "../../scripts/lib/ports.js";
import { ROOT } from "../../scripts/lib/system.js";
import { withChromium } from "./chromium.js";
import { sleep, until } from "./helpers.js";
import { commandLine, descendants, Launcher, portIsFree } from "./launcher.js";

// The README's picture is refreshed only when asked (TETHER_WRITE_SCREENSHOT=1 npx vitest run
// test/e2e/start.test.ts): a test run must not dirty the checkout.
const SCREENSHOT =
  process.env.TETHER_WRITE_SCREENSHOT === "1"
    ? join(ROOT, "docs/screenshot-console.png")
    : join(tmpdir(), `tether-console-${process.pid}.png`);
const SECRET_NAMES = [
  "DEVICE_SECRET",
  "BROKER_API_TOKEN",
  "EDGE_EVENTS_SECRET",
  "RAILS_API_TOKEN",
  "CLIENT_JWT_SECRET",
];

/** The developer's environment without Tether's secrets, so the launcher generates its own. */
function launcherEnv(ports: Record<string, number | undefined>): NodeJS.ProcessEnv {
  // As in system-fixture.ts: other test files' CPU must not make npm start's broker shed.
  const env: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: "0", MAX_EVENT_LOOP_LAG_MS: "0" };
  for (const name of [...SECRET_NAMES, "MQTT_PORT", "HTTP_PORT", "EDGE_PORT", "HOST"]) delete env[name];
  for (const [name, port] of Object.entries(ports)) if (port !== undefined) env[name] = String(port);
  return env;
}

function match(output: string, pattern: RegExp, what: string): string {
  const found = pattern.exec(output)?.[1];
  if (!found) throw new Error(`npm start did not print ${what}:\n${output}`);
  return found;
}

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen({ port, host: "127.0.0.1" }, () => resolve(server));
  });
}

describe.sequential("npm start", () => {
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
      const response = await fetch(url, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body,
      });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ id: expect.any(String), ok: true, result: { pong: true } });
    });

    it("serves a console that shows the simulated router online, runs a ping and shows its result (Chromium)", async (ctx) => {
      const consoleUrl = match(launcher.output, /Web console\s+(\S+)/, "the console URL");
      await withChromium(ctx, async (browser) => {
        const page = await browser.newPage({ viewport: { width: 1280, height: 1360 } });
        await page.goto(consoleUrl);
        await page.locator('#presence[data-online="true"]').waitFor({ timeout: 15_000 });
        await page.locator('#status[data-state="open"]').waitFor({ timeout: 5_000 });
        expect(await page.locator("#device-id").inputValue()).toBe(`${idPrefix}0`);
        expect(await page.locator("#state").textContent()).toContain("tether-sim");
        // The token in the hash fills the form, then leaves the address bar.
        expect(page.url()).not.toContain("token=");

        await page.locator("#command-name").fill("ping");
        await page.locator("#command-params").fill("{}");
        await page.locator("#send-command").click();
        const result = page.locator('#command-result[data-ok="true"]');
        await result.waitFor({ timeout: 15_000 });
        expect(await result.textContent()).toContain('"pong": true');
        await page.locator('#events li[data-testid="event-row"][data-type="presence"]').first().waitFor();

        await page.evaluate("window.scrollTo(0, 0)");
        await page.screenshot({ path: SCREENSHOT });
        expect(existsSync(SCREENSHOT)).toBe(true);
        if (process.env.TETHER_WRITE_SCREENSHOT !== "1") rmSync(SCREENSHOT, { force: true });
      });
    }, 60_000);

    it("speaks plainly: state in words, a failed result in red with its code, no retrying a device the token lacks (Chromium)", async (ctx) => {
      const consoleUrl = match(launcher.output, /Web console\s+(\S+)/, "the console URL");
      await withChromium(ctx, async (browser) => {
        const page = await browser.newPage({ viewport: { width: 1280, height: 1360 } });
        await page.goto(consoleUrl);
        await page.locator('#status[data-state="open"]').waitFor({ timeout: 15_000 });
        expect(await page.locator("#status").textContent()).toBe("live");
        expect(await page.locator("#command-name").getAttribute("placeholder")).toBe("ping");
        const suggested = await page
          .locator("#command-names option")
          .evaluateAll((options) => options.map((option) => option.getAttribute("value")));
        expect(suggested).toEqual(["ping", "get_state", "set_state"]);

        await page.locator("#command-name").fill("reboot");
        await page.locator("#send-command").click();
        const failed = page.locator('#command-result[data-ok="false"]');
        await failed.waitFor({ timeout: 15_000 });
        expect(await failed.textContent()).toMatch(/^unknown_command: /);
        await page.locator('#events li[data-type="command_result"][data-tone="bad"]').first().waitFor();

        // The token lists only the simulated router: the console says so and does not try.
        await page.locator("#device-id").fill(`${idPrefix}9`);
        await page.locator("#connect").click();
        expect(await page.locator("#connect-error").textContent()).toMatch(/does not cover router-9/);
        expect(await page.locator("#status").getAttribute("data-state")).toBe("open");

        // A stale error does not follow the user to another device (one a second token lists).
        await page.locator("#command-params").fill("{not json");
        await page.locator("#send-command").click();
        expect(await page.locator("#command-error").textContent()).toMatch(/not valid JSON/);
        const secret = match(launcher.output, /CLIENT_JWT_SECRET=(\S+)/, "the client JWT secret");
        const wider = await mintClientToken(secret, {
          sub: "e2e",
          devices: [`${idPrefix}0`, `${idPrefix}1`],
          kind: "web",
        });
        await page.locator("#token").fill(wider);
        await page.locator("#device-id").fill(`${idPrefix}1`);
        await page.locator("#connect").click();
        await page.locator('#status[data-state="open"]').waitFor({ timeout: 15_000 });
        expect(await page.locator("#connect-error").textContent()).toBe("");
        expect(await page.locator("#command-error").textContent()).toBe("");
        expect(await page.locator("#command-result").textContent()).toBe("");
      });
    }, 60_000);

    it("edits desired state in the console, sees the simulated router apply it, and a setting it cannot apply highlighted with its failure (Chromium)", async (ctx) => {
      const consoleUrl = match(launcher.output, /Web console\s+(\S+)/, "the console URL");
      await withChromium(ctx, async (browser) => {
        const page = await browser.newPage({ viewport: { width: 1280, height: 1360 } });
        await page.goto(consoleUrl);
        await page.locator('#status[data-state="open"]').waitFor({ timeout: 15_000 });
        await page.locator("#desired-patch").fill('{"wifi": {"ssid": "from-the-console"}, "led": "off"}');
        await page.locator("#send-desired").click();
        // The router applies it and reports it: desired and reported agree, nothing is pending.
        await page.locator('#desired-versions[data-converged="true"]').waitFor({ timeout: 15_000 });
        expect(await page.locator("#desired-versions").textContent()).toMatch(/in sync/);
        const rows = page.locator("#desired-rows tr");
        expect(await rows.count()).toBe(2);
        expect(await page.locator('#desired-rows tr[data-delta="true"]').count()).toBe(0);
        expect(await rows.first().textContent()).toContain("led");
        expect(await page.locator("#state").textContent()).toContain("from-the-console");
        expect(await page.locator("#desired-error").textContent()).toBe("");
        // A setting the router cannot apply stays in the delta, highlighted, with its failure.
        await page.locator("#desired-patch").fill('{"wifi": {"ssid": "from-the-console", "band": "6GHz"}}');
        await page.locator("#send-desired").click();
        await page.locator('#desired-rows tr[data-delta="true"]').waitFor({ timeout: 15_000 });
        expect(await page.locator('#desired-rows tr[data-delta="true"]').textContent()).toContain("6GHz");
        await page
          .locator("#desired-failure")
          .filter({ hasText: "no 6 GHz radio" })
          .waitFor({ timeout: 15_000 });
        expect(await page.locator("#desired-versions").textContent()).toMatch(/1 pending/);
        // A patch that is not a JSON object never leaves the page.
        await page.locator("#desired-patch").fill("[1]");
        await page.locator("#send-desired").click();
        expect(await page.locator("#desired-error").textContent()).toMatch(/merge patch is a JSON object/);
      });
    }, 60_000);

    it("sends the token nowhere when a crafted #edge= link names another host, confirmed or not (Chromium)", async (ctx) => {
      const consoleUrl = match(launcher.output, /Web console\s+(\S+)/, "the console URL");
      const edgeOrigin = new URL(consoleUrl).origin;
      const headers = (await fetch(consoleUrl)).headers;
      expect(headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
      expect(headers.get("x-frame-options")).toBe("DENY");
      expect(headers.get("referrer-policy")).toBe("no-referrer");

      // The other host records whatever reaches it, HTTP or WebSocket.
      const reached: string[] = [];
      const trap = createHttpServer((request, response) => {
        reached.push(`${request.method} ${request.url}`);
        response.end();
      });
      trap.on("upgrade", (request, socket) => {
        reached.push(`upgrade ${request.url} ${request.headers["sec-websocket-protocol"] ?? ""}`);
        socket.destroy();
      });
      const trapPort = await freePort();
      await new Promise<void>((resolve) => trap.listen(trapPort, "127.0.0.1", resolve));
      const trapOrigin = `http://127.0.0.1:${trapPort}`;
      const crafted = `${edgeOrigin}/#edge=${encodeURIComponent(trapOrigin)}&device=${idPrefix}0`;

      try {
        await withChromium(ctx, async (browser) => {
          const context = await browser.newContext();
          // The user opened the console from its own link and asked it to remember the token.
          const own = await context.newPage();
          await own.goto(consoleUrl);
          await own.locator('#status[data-state="open"]').waitFor({ timeout: 15_000 });
          await own.locator("#remember-token").check();
          await own.locator("#connect").click();
          await own.locator('#status[data-state="open"]').waitFor({ timeout: 15_000 });
          await own.close();

          // A crafted link, declined: ignored, and Connect still goes to this edge.
          const declined = await context.newPage();
          const asked: string[] = [];
          declined.on("dialog", (dialog) => {
            asked.push(dialog.message());
            void dialog.dismiss();
          });
          await declined.goto(crafted);
          expect(await declined.locator("#connect-error").textContent()).toContain(trapOrigin);
          expect(asked).toEqual([expect.stringContaining(trapOrigin)]);
          await declined.locator("#connect").click();
          await declined.locator('#status[data-state="open"]').waitFor({ timeout: 15_000 });
          await declined.close();

          // The same link, confirmed: the console points there, but the stored token is gone.
          const confirmed = await context.newPage();
          confirmed.on("dialog", (dialog) => void dialog.accept());
          await confirmed.goto(crafted);
          expect(await confirmed.locator("#edge-url").inputValue()).toBe(trapOrigin);
          expect(await confirmed.locator("#token").inputValue()).toBe("");
          // Connect has nothing to send: the empty (required) token field stops the form.
          await confirmed.locator("#connect").click();
          expect(await confirmed.locator("#token:invalid").count()).toBe(1);
          expect(await confirmed.locator("#status").getAttribute("data-state")).toBe("idle");
          expect(await confirmed.evaluate("localStorage.getItem('tether.console.token')")).toBeNull();
        });
      } finally {
        await new Promise((resolve) => trap.close(resolve));
      }
      expect(reached).toEqual([]);
    }, 60_000);

    it("stops every child on Ctrl-C — workerd included — exits 0, frees its ports and removes its files", async () => {
      const running = children.map((pid) => commandLine(pid) ?? "");
      expect(running.some((cmd) => cmd.includes("workerd"))).toBe(true);
      expect(running.some((cmd) => cmd.includes("broker/src/cli.ts"))).toBe(true);
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
