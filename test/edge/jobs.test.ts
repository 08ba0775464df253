/**
 * Fleet jobs (issue 16) inside workerd: the API's validation, idempotency and bounds,
 * the broker's answers as outcomes, a queued command's later result routed through the
 * device's DeviceChannel to its job, and deletion after retention. The progress socket
 * is in job-socket.test.ts, the job's parts on their own in job-parts.test.ts, the shared
 * helpers in job-helpers.ts. The broker is a fetch mock here; test/e2e/jobs.test.ts runs
 * the real thing.
 */
import { env, runDurableObjectAlarm, runInDurableObject, SELF } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { JOB_LIMITS, jobCommandId } from "../../protocol/src/index.js";
import { EDGE, freshDeviceId, mockBroker, postEvents, railsRequest } from "./helpers.js";
import { cancelAll, job, ok, post, start, targets, until, type View } from "./job-helpers.js";

afterEach(() => {
  vi.restoreAllMocks();
});

describe("POST /v1/jobs", () => {
  it("checks the Rails token before anything else", async () => {
    const res = await SELF.fetch(`${EDGE}/v1/jobs`, post("not json"));
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: { code: "unauthorized" } });
  });

  it("refuses a bad body, a bad target (naming its index) and a bad Idempotency-Key with 400", async () => {
    const cases = [
      "{",
      { command: { name: "reboot" } },
      { command: { name: "reboot" }, targets: [] },
      { command: { name: "re boot" }, targets: ["a"] },
      { command: { name: "reboot" }, targets: ["a"], ratePerSecond: 0 },
      { command: { name: "reboot" }, targets: ["a"], ratePerSecond: 1001 },
      { command: { name: "reboot" }, targets: ["a"], abort: { failedPercent: 101 } },
      { command: { name: "reboot" }, targets: ["a"], extra: true },
    ];
    for (const body of cases) {
      const res = await start(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error?.code).toBe("invalid_request");
    }
    const badTarget = await start({ command: { name: "reboot" }, targets: ["ok-1", "bad id"] });
    expect(badTarget.status).toBe(400);
    expect(badTarget.body.error?.message).toMatch(/^targets\.1: not a device id/);
    const badKey = await start(
      { command: { name: "reboot" }, targets: ["a"] },
      { "idempotency-key": "has space" },
    );
    expect(badKey.status).toBe(400);
  });

  it("refuses more than 100,000 distinct targets with 413, and accepts 100,000 duplicates as one", async () => {
    const many = Array.from({ length: JOB_LIMITS.maxTargets + 1 }, (_, i) => `r-${i}`);
    const tooMany = await start({ command: { name: "reboot" }, targets: many });
    expect(tooMany.status).toBe(413);
    expect(tooMany.body).toEqual({
      error: { code: "payload_too_large", message: expect.stringMatching(/100000/) },
    });

    mockBroker(ok);
    const device = freshDeviceId();
    const same = Array.from({ length: JOB_LIMITS.maxTargets + 1 }, () => device);
    const one = await start({ command: { name: "reboot" }, targets: same });
    expect(one.status).toBe(201);
    expect(one.body.total).toBe(1);
    await until("the job to complete", async () => (await job(one.body.id)).status === "completed" || false);
  });

  it("refuses a body above 8 MiB with 413 before reading it", async () => {
    const huge = JSON.stringify({ command: { name: "reboot" }, targets: ["x".repeat(9 * 1024 * 1024)] });
    const res = await start(huge);
    expect(res.status).toBe(413);
    expect(res.body.error?.code).toBe("payload_too_large");
  });

  it("answers a retried POST with the same Idempotency-Key with the same job (200), and another body with 409", async () => {
    mockBroker(ok);
    const key = crypto.randomUUID();
    const body = { command: { name: "reboot" }, targets: targets(3), ratePerSecond: 100 };
    const first = await start(body, { "idempotency-key": key });
    const again = await start(body, { "idempotency-key": key });
    expect(first.status).toBe(201);
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    const other = await start({ ...body, ratePerSecond: 5 }, { "idempotency-key": key });
    expect(other.status).toBe(409);
    expect(other.body.error?.code).toBe("idempotency_conflict");
    const unkeyed = await start(body);
    expect(unkeyed.body.id).not.toBe(first.body.id);
    await until("both jobs to complete", async () => {
      const views = await Promise.all([job(first.body.id), job(unkeyed.body.id)]);
      return views.every((v) => v.status === "completed") || false;
    });
  });

  it(`runs at most ${JOB_LIMITS.maxRunningJobs} jobs at once: one more is 429 too_many_jobs until one ends`, async () => {
    mockBroker(ok);
    // Rate 1/s with 3 targets: each job stays running for ~2 s.
    const body = () => ({ command: { name: "reboot" }, targets: targets(3), ratePerSecond: 1 });
    const started = await Promise.all(Array.from({ length: JOB_LIMITS.maxRunningJobs }, () => start(body())));
    const ids = started.map((s) => s.body.id);
    try {
      expect(started.map((s) => s.status)).toEqual(Array(JOB_LIMITS.maxRunningJobs).fill(201));
      const refused = await railsRequest("/v1/jobs", post(body()));
      expect(refused.status).toBe(429);
      expect(refused.headers.get("retry-after")).toBe("10");
      expect(await refused.json()).toMatchObject({ error: { code: "too_many_jobs" } });
      await railsRequest(`/v1/jobs/${ids[0]}/cancel`, { method: "POST" });
      const next = await start(body());
      expect(next.status).toBe(201);
      ids.push(next.body.id);
    } finally {
      await cancelAll(ids);
    }
  });
});

describe("a job's outcomes", () => {
  it("records each broker answer as an outcome; a queued command's later result reaches the job through its device", async () => {
    const [succeeds, fails, times, offline, queued] = targets(5);
    mockBroker((_request, text) => {
      const { id } = JSON.parse(text) as { id: string };
      if (id.endsWith(succeeds ?? "")) return Response.json({ id, ok: true, result: { v: 1 } });
      if (id.endsWith(fails ?? ""))
        return Response.json({ id, ok: false, error: { code: "boom", message: "no" } });
      if (id.endsWith(times ?? ""))
        return Response.json({ id, error: { code: "timeout", message: "t" } }, { status: 504 });
      if (id.endsWith(offline ?? ""))
        return Response.json({ error: { code: "device_offline", message: "off" } }, { status: 409 });
      return Response.json({ id, queued: true, expiresAt: Date.now() + 60_000 }, { status: 202 });
    });
    const created = await start({
      command: { name: "set", params: { a: 1 }, queue: true },
      targets: [succeeds, fails, times, offline, queued],
      ratePerSecond: 50,
    });
    expect(created.status).toBe(201);
    const id = created.body.id;
    const done = await until("the job to complete", async () => {
      const view = await job(id);
      return view.status === "completed" && view;
    });
    expect(done.counts).toEqual({ succeeded: 1, failed: 1, timed_out: 1, offline: 1, queued: 1, pending: 0 });

    const res = await postEvents({
      events: [
        {
          type: "command_result",
          deviceId: queued,
          ts: Date.now(),
          id: jobCommandId(id, queued ?? ""),
          ok: true,
          result: { late: true },
        },
      ],
    });
    expect(res.status).toBe(200);
    expect((await job(id)).counts).toMatchObject({ succeeded: 2, queued: 0 });

    const page = await railsRequest(`/v1/jobs/${id}/devices?outcome=failed`);
    expect(await page.json()).toEqual({
      devices: [
        {
          deviceId: fails,
          outcome: "failed",
          commandId: jobCommandId(id, fails ?? ""),
          attempts: 1,
          updatedAt: expect.any(Number),
          error: { code: "boom", message: "no" },
          result: null,
        },
      ],
      cursor: null,
    });
    const first = (await (await railsRequest(`/v1/jobs/${id}/devices?limit=2`)).json()) as {
      devices: { deviceId: string }[];
      cursor: string;
    };
    expect(first.devices.map((d) => d.deviceId)).toEqual([succeeds, fails]);
    const rest = (await (await railsRequest(`/v1/jobs/${id}/devices?cursor=${first.cursor}`)).json()) as {
      devices: { deviceId: string; result: unknown }[];
      cursor: null;
    };
    expect(rest.devices.map((d) => d.deviceId)).toEqual([times, offline, queued]);
    expect(rest.devices[2]?.result).toEqual({ late: true });
    expect(rest.cursor).toBeNull();
  });

  it("sends each router the command under an id derived from job and router, through the broker", async () => {
    const { calls } = mockBroker(ok);
    const devices = targets(2);
    const { body } = await start({ command: { name: "reboot", timeoutMs: 2000 }, targets: devices });
    await until("the job to complete", async () => (await job(body.id)).status === "completed" || false);
    expect(calls.map((c) => c.url).sort()).toEqual(
      devices.map((d) => `${env.BROKER_URL}/v1/devices/${d}/commands`).sort(),
    );
    expect(calls.map((c) => c.body)).toContainEqual({
      name: "reboot",
      timeoutMs: 2000,
      id: jobCommandId(body.id, devices[0] ?? ""),
    });
    expect(calls[0]?.authorization).toBe(`Bearer ${env.BROKER_API_TOKEN}`);
  });

  it("retries a command the broker shed (503) and records it once answered", async () => {
    let shed = 0;
    mockBroker((request, text) => {
      if (shed++ === 0)
        return Response.json(
          { error: { code: "overloaded", message: "busy" } },
          { status: 503, headers: { "retry-after": "1" } },
        );
      return ok(request, text);
    });
    const { body } = await start({ command: { name: "reboot" }, targets: targets(1) });
    const done = await until(
      "the job to complete",
      async () => {
        const view = await job(body.id);
        return view.status === "completed" && view;
      },
      8_000,
    );
    expect(done.counts.succeeded).toBe(1);
    const page = (await (await railsRequest(`/v1/jobs/${body.id}/devices`)).json()) as {
      devices: { attempts: number }[];
    };
    expect(page.devices[0]?.attempts).toBe(2);
  });

  it("cancel stops dispatch at once: nothing is sent after it", async () => {
    const { calls } = mockBroker(ok);
    const { body } = await start({ command: { name: "reboot" }, targets: targets(20), ratePerSecond: 5 });
    await until("the first slice", async () => calls.length >= 5 || false);
    const res = await railsRequest(`/v1/jobs/${body.id}/cancel`, { method: "POST" });
    const cancelled = (await res.json()) as View;
    expect(cancelled.status).toBe("cancelled");
    const sent = calls.length;
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(calls.length).toBe(sent);
    const view = await job(body.id);
    expect(view.counts.pending).toBe(20 - sent);
    expect(view.dispatched).toBe(sent);
  });

  it("answers an unknown job 404 and a malformed job id 400", async () => {
    const unknown = await railsRequest(`/v1/jobs/${"0".repeat(32)}`);
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: { code: "not_found" } });
    for (const path of ["/v1/jobs/xyz", "/v1/jobs/xyz/devices", "/v1/jobs/xyz/cancel"]) {
      const res = await railsRequest(path, path.endsWith("cancel") ? { method: "POST" } : {});
      expect(res.status).toBe(400);
    }
    const badOutcome = await railsRequest(`/v1/jobs/${"0".repeat(32)}/devices?outcome=nope`);
    expect(badOutcome.status).toBe(400);
  });

  it("deletes a finished job after JOB_RETENTION_DAYS", async () => {
    mockBroker(ok);
    const { body } = await start({ command: { name: "reboot" }, targets: targets(1) });
    await until("the job to complete", async () => (await job(body.id)).status === "completed" || false);
    const stub = env.FLEET_JOB.getByName(body.id);
    await runInDurableObject(stub, (instance) => {
      instance.now = () => Date.now() + 30 * 86_400_000 + 1_000;
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const gone = await railsRequest(`/v1/jobs/${body.id}`);
    expect(gone.status).toBe(404);
  });
});
