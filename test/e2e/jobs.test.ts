/**
 * Fleet jobs (issue 16), end to end: a real broker process, the edge on workerd
 * (as `npm start` runs it) and 500 SDK routers. Every command a router runs is timed at the
 * router, so pacing is measured from the routers' side. This file starts its own
 * system: its last test restarts the edge mid-job.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Device } from "../../device-sdk/src/index.js";
import { jobCommandId } from "../../protocol/src/index.js";
import { maxPerWindow } from "../../scripts/lib/rate-window.js";
import { chromiumPerBlock } from "./chromium.js";
import { ClientSocket, E2ESystem, freshId, sleep, until } from "./helpers.js";

const FLEET = 500;
const RATE = 100;

let e2e: E2ESystem;
let fleet: Device[] = [];
/** Every handler run: which router, which command, when (ms). Bound: this file's jobs. */
const runs: { device: string; commandId: string; at: number }[] = [];

interface JobView {
  id: string;
  status: string;
  total: number;
  dispatched: number;
  reason: string | null;
  counts: Record<"succeeded" | "failed" | "timed_out" | "offline" | "queued" | "pending", number>;
}

async function startJob(body: unknown): Promise<JobView> {
  const res = await e2e.rails("/v1/jobs", { method: "POST", body: JSON.stringify(body) });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as JobView;
}

async function job(id: string): Promise<JobView> {
  const res = await e2e.rails(`/v1/jobs/${id}`);
  expect(res.status).toBe(200);
  return res.body as JobView;
}

function waitForStatus(id: string, status: string, timeoutMs = 60_000): Promise<JobView> {
  return until(
    `job ${id} ${status}`,
    async () => {
      const view = await job(id);
      return view.status === status && view;
    },
    timeoutMs,
  );
}

/** The runs of one job's commands. */
const runsOf = (jobId: string) => runs.filter((run) => run.commandId.startsWith(`job-${jobId}-`));

/** Commands per 100 ms at the routers from the first (for a failure's message: how they bunched). */
function per100ms(times: number[]): string {
  const first = Math.min(...times);
  const counts: number[] = [];
  for (const at of times) {
    const slot = Math.floor((at - first) / 100);
    counts[slot] = (counts[slot] ?? 0) + 1;
  }
  return Array.from(counts, (n) => n ?? 0).join(",");
}

const sum = (counts: JobView["counts"]) => Object.values(counts).reduce((a, b) => a + b, 0);

beforeAll(async () => {
  e2e = await E2ESystem.start();
  // In batches: the broker admits at most 100 unauthenticated sockets per address.
  for (let i = 0; i < FLEET; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, FLEET - i) }, (_, j) =>
        e2e.router(freshId(`job${i + j}`), (device) => {
          const record = (commandId: string) => runs.push({ device: device.id, commandId, at: Date.now() });
          device.command("reboot", (_params, context) => {
            record(context.id);
            return { rebooted: true };
          });
          // Fails on every fifth router of the fleet: 20 %.
          device.command("flaky", (_params, context) => {
            record(context.id);
            if ((i + j) % 5 === 0) throw new Error("flaky firmware");
            return { ok: true };
          });
        }),
      ),
    );
    await Promise.all(batch.map((device) => device.whenOnline()));
    fleet.push(...batch);
  }
  // The edge hears 500 presence events at once; under a loaded machine it takes a while to
  // catch up, and a job started meanwhile would measure that backlog, not the job.
  const last = fleet.at(-1)?.id ?? "";
  await until(
    "the edge caught up with the fleet's presence",
    async () => (await e2e.view(last).catch(() => ({ online: false }))).online === true,
    120_000,
  );
}, 240_000);

afterAll(async () => {
  fleet = [];
  await e2e?.stop();
}, 60_000);

describe.sequential("fleet jobs (issue 16)", () => {
  const withChromium = chromiumPerBlock();
  it(`a job over ${FLEET} routers at ${RATE}/s completes, counts add up, and no router-side second sees more than ${RATE}`, async () => {
    const started = await startJob({
      command: { name: "reboot", timeoutMs: 5_000 },
      targets: fleet.map((device) => device.id),
      ratePerSecond: RATE,
    });
    const socket = await ClientSocket.open(
      `${e2e.urls.edge.replace(/^http/, "ws")}/v1/jobs/${started.id}/ws`,
      e2e.secrets.RAILS_API_TOKEN,
    );
    const done = await waitForStatus(started.id, "completed");
    expect(done.counts).toEqual({
      succeeded: FLEET,
      failed: 0,
      timed_out: 0,
      offline: 0,
      queued: 0,
      pending: 0,
    });
    expect(sum(done.counts)).toBe(done.total);
    const mine = runsOf(started.id);
    expect(new Set(mine.map((run) => run.device)).size).toBe(FLEET);
    expect(mine).toHaveLength(FLEET);
    const times = mine.map((run) => run.at);
    expect(maxPerWindow(times), `per 100 ms: ${per100ms(times)}`).toBeLessThanOrEqual(RATE);

    const frames = await until("the completed frame", () => {
      const all = socket.frames.filter((f) => f.type === "job");
      return all.some((f) => f.status === "completed") && all;
    });
    const percents = frames.map((f) => Number(f.percent));
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
    // A few frames per second, not one per router.
    const seconds = (Number(frames.at(-1)?.ts) - Number(frames[0]?.ts)) / 1000;
    expect(frames.length).toBeLessThanOrEqual(Math.ceil(seconds * 4) + 2);
    await socket.close();
  }, 120_000);

  it("a handler failing on 20 % of routers aborts the job at the threshold, and nothing is sent after", async () => {
    const started = await startJob({
      command: { name: "flaky" },
      targets: fleet.map((device) => device.id),
      ratePerSecond: RATE,
      abort: { failedPercent: 10, minExecuted: 50 },
    });
    const aborted = await waitForStatus(started.id, "aborted");
    expect(aborted.reason).toMatch(/failed or timed out/);
    // In-flight commands finish; then nothing moves.
    const settled = await until("in-flight commands recorded", async () => {
      const view = await job(started.id);
      return view.counts.pending === FLEET - view.dispatched && view;
    });
    await sleep(1_000);
    const later = await job(started.id);
    expect(later.dispatched).toBe(settled.dispatched);
    expect(runsOf(started.id)).toHaveLength(settled.dispatched);
    // Aborted at 50 executed plus at most the slices in flight then (a tenth of a second each).
    expect(settled.dispatched).toBeGreaterThanOrEqual(50);
    expect(settled.dispatched).toBeLessThan(100);
    const executed = later.counts.succeeded + later.counts.failed;
    expect(later.counts.failed / executed).toBeGreaterThanOrEqual(0.1);
  }, 60_000);

  it("cancel mid-way stops dispatch within one pacing tick", async () => {
    const started = await startJob({
      command: { name: "reboot" },
      targets: fleet.map((device) => device.id),
      ratePerSecond: 50,
    });
    await until("a hundred routers ran it", () => runsOf(started.id).length >= 100, 10_000);
    const res = await e2e.rails(`/v1/jobs/${started.id}/cancel`, { method: "POST" });
    const ranAtCancel = runsOf(started.id).length;
    expect(res.status).toBe(200);
    expect((res.body as JobView).status).toBe("cancelled");
    await sleep(1_000);
    const view = await job(started.id);
    expect(view.status).toBe("cancelled");
    expect(runsOf(started.id)).toHaveLength(view.dispatched);
    // One slice (rate / 10) may have been on its way when the cancel arrived.
    expect(view.dispatched).toBeLessThanOrEqual(ranAtCancel + 5);
    expect(view.counts.pending).toBe(FLEET - view.dispatched);
    expect(sum(view.counts)).toBe(FLEET);
  }, 30_000);

  it("offline routers with queue:true end succeeded when they return", async () => {
    const ids = Array.from({ length: 5 }, () => freshId("away"));
    const handler = (device: Device) =>
      device.command("reboot", (_params, context) => {
        runs.push({ device: device.id, commandId: context.id, at: Date.now() });
        return { rebooted: true };
      });
    // Each connects once (a persistent session to queue into), then goes away.
    for (const id of ids) {
      const first = await e2e.router(id, handler);
      await first.whenOnline();
      await first.close();
    }
    await Promise.all(ids.map((id) => e2e.waitForPresence(id, false)));
    const started = await startJob({
      command: { name: "reboot", queue: true, ttlMs: 120_000 },
      targets: ids,
    });
    const queued = await waitForStatus(started.id, "completed");
    expect(queued.counts).toMatchObject({ queued: 5, succeeded: 0, pending: 0 });

    for (const id of ids) await (await e2e.router(id, handler)).whenOnline();
    const back = await until(
      "every queued command's result at the job",
      async () => {
        const view = await job(started.id);
        return view.counts.succeeded === 5 && view;
      },
      15_000,
    );
    expect(back.counts.queued).toBe(0);
    const page = await e2e.rails(`/v1/jobs/${started.id}/devices?outcome=succeeded`);
    expect((page.body as { devices: { deviceId: string; result: unknown }[] }).devices).toEqual(
      ids.map((id) => expect.objectContaining({ deviceId: id, result: { rebooted: true } })),
    );
  }, 60_000);

  it("the console's Jobs view starts a job, shows its progress and cancels it (Chromium)", async (ctx) => {
    await withChromium(ctx, async (browser) => {
      const page = await browser.newPage();
      await page.goto(`${e2e.urls.edge}/`);
      await page.locator("#job-token").fill(e2e.secrets.RAILS_API_TOKEN);
      await page.locator("#job-targets").fill(
        fleet
          .slice(0, 100)
          .map((device) => device.id)
          .join(", "),
      );
      await page.locator("#job-command").fill("reboot");
      await page.locator("#job-rate").fill("10");
      await page.locator("#job-start").click();
      await page.locator('#job-status[data-status="running"]').waitFor({ timeout: 10_000 });
      await until(
        "the progress bar to move",
        async () =>
          Number(await page.locator("#job-progress").evaluate((el) => Reflect.get(el, "value"))) > 0,
        15_000,
      );
      expect(await page.locator("#job-counts").textContent()).toMatch(/succeeded [1-9]/);
      await page.locator("#job-cancel").click();
      await page.locator('#job-status[data-status="cancelled"]').waitFor({ timeout: 10_000 });
      const jobId = await page.locator("#job-status").getAttribute("title");
      const view = await job(jobId ?? "");
      expect(view.status).toBe("cancelled");
      expect(view.dispatched).toBeLessThan(100);
      expect(await page.locator("#job-cancel").isDisabled()).toBe(true);
    });
  }, 60_000);

  it("a job resumes after the edge's worker process restarts mid-job, each router running the command once", async () => {
    const rate = RATE;
    const started = await startJob({
      command: { name: "reboot" },
      targets: fleet.map((device) => device.id),
      ratePerSecond: rate,
    });
    await until("a hundred routers ran it", () => runsOf(started.id).length >= 100, 10_000);
    await e2e.system.stopEdge();
    await e2e.system.startEdge();
    const done = await waitForStatus(started.id, "completed", 60_000);
    expect(done.counts).toEqual({
      succeeded: FLEET,
      failed: 0,
      timed_out: 0,
      offline: 0,
      queued: 0,
      pending: 0,
    });
    const mine = runsOf(started.id);
    // The router's result cache answered any command sent again: no handler ran twice.
    expect(mine).toHaveLength(FLEET);
    expect(new Set(mine.map((run) => run.commandId))).toEqual(
      new Set(fleet.map((device) => jobCommandId(started.id, device.id))),
    );
    const times = mine.map((run) => run.at);
    expect(maxPerWindow(times), `per 100 ms: ${per100ms(times)}`).toBeLessThanOrEqual(rate);
  }, 120_000);
});
