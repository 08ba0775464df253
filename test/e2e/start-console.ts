/**
 * The console tests of test/e2e/start.test.ts (Chromium against the console `npm start`
 * serves): a ping and its result, plain words and failures, desired state edited and
 * applied (issue 15), and a crafted #edge= link that must not get the token. Registered
 * inside that file's describe, against its one launcher, so `npm start` runs once.
 */
import { existsSync, rmSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { mintClientToken } from "../../scripts/lib/dev-secrets.js";
import { freePort } from "../../scripts/lib/ports.js";
import { ROOT } from "../../scripts/lib/system.js";
import { chromiumPerBlock } from "./chromium.js";
import type { Launcher } from "./launcher.js";
import { match } from "./start-helpers.js";

// The README's picture is refreshed only when asked (TETHER_WRITE_SCREENSHOT=1 npx vitest run
// test/e2e/start.test.ts): a test run must not dirty the checkout.
const SCREENSHOT =
  process.env.TETHER_WRITE_SCREENSHOT === "1"
    ? join(ROOT, "docs/screenshot-console.png")
    : join(tmpdir(), `tether-console-${process.pid}.png`);

/** The console tests, against the running launcher (`launcher()`) of routers `${idPrefix}N`. */
export function consoleTests(launcher: () => Launcher, idPrefix: string): void {
  const withChromium = chromiumPerBlock();
  it("serves a console that shows the simulated router online, runs a ping and shows its result (Chromium)", async (ctx) => {
    const consoleUrl = match(launcher().output, /Web console\s+(\S+)/, "the console URL");
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
    const consoleUrl = match(launcher().output, /Web console\s+(\S+)/, "the console URL");
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
      const secret = match(launcher().output, /CLIENT_JWT_SECRET=(\S+)/, "the client JWT secret");
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
    const consoleUrl = match(launcher().output, /Web console\s+(\S+)/, "the console URL");
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
    const consoleUrl = match(launcher().output, /Web console\s+(\S+)/, "the console URL");
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
}
