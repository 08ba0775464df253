/**
 * Debian's Chromium for the console's browser tests (test/e2e/start.test.ts, jobs.test.ts):
 * one place that says where it lives, how it is launched, and what a missing one means.
 */
import { existsSync } from "node:fs";
import type { Browser } from "playwright-core";
import { afterAll, type TestContext } from "vitest";

export const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * One headless Chromium for the tests of one describe block: launched by the first test
 * that uses it, closed after the block's last test (vitest `afterAll`). Each
 * `browser.newPage()` / `newContext()` is a fresh context (cookies, storage, cache of its
 * own), as isolated as the fresh temporary profile a launch per test gave; a launch costs
 * ~1.5 s of CPU in ~12 processes, and start.test.ts's four console tests paid it four times.
 * Call it in a describe body (or a file's top level), never inside a test.
 */
export function chromiumPerBlock(): (
  ctx: TestContext,
  use: (browser: Browser) => Promise<void>,
) => Promise<void> {
  let launched: Promise<Browser> | undefined;
  afterAll(async () => {
    const browser = await launched?.catch(() => undefined);
    launched = undefined;
    await browser?.close();
  });
  return async (ctx, use) => {
    if (!existsSync(CHROMIUM)) {
      if (process.env.CI)
        throw new Error(`${CHROMIUM} is missing under CI: .ci/run installs Debian's chromium`);
      ctx.skip(`${CHROMIUM} is missing (apt-get install chromium); this test always runs under CI`);
    }
    if (!launched) {
      const launching = import("playwright-core")
        .then(({ chromium }) => chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS }))
        .then((browser) => {
          // A browser that died (a crash) is launched again for the next test.
          browser.once("disconnected", () => {
            if (launched === launching) launched = undefined;
          });
          return browser;
        });
      launched = launching;
    }
    const browser = await launched;
    const before = new Set(browser.contexts());
    try {
      await use(browser);
    } finally {
      // What this test opened goes with it; the next test finds the browser as launched.
      await Promise.all(
        browser
          .contexts()
          .filter((context) => !before.has(context))
          .map((context) => context.close().catch(() => {})),
      );
    }
  };
}
