/**
 * Debian's Chromium for the console's browser tests (test/e2e/start.test.ts, jobs.test.ts):
 * one place that says where it lives, how it is launched, and what a missing one means.
 */
import { existsSync } from "node:fs";
import type { Browser } from "playwright-core";
import type { TestContext } from "vitest";

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
 * Runs `use` with a fresh headless Chromium (launch() gives every run an empty temporary
 * profile) and closes it however `use` ends. Without Chromium the test is skipped, except
 * under CI, where .ci/run installs it and its absence is an error.
 */
export async function withChromium(
  ctx: TestContext,
  use: (browser: Browser) => Promise<void>,
): Promise<void> {
  if (!existsSync(CHROMIUM)) {
    if (process.env.CI)
      throw new Error(`${CHROMIUM} is missing under CI: .ci/run installs Debian's chromium`);
    ctx.skip(`${CHROMIUM} is missing (apt-get install chromium); this test always runs under CI`);
  }
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    await use(browser);
  } finally {
    await browser.close();
  }
}
