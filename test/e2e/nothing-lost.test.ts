/**
 * Issue 12, end to end: a real broker process, the real edge on workerd (as `npm start` runs it),
 * SDK routers and bare mqtt.js clients. The edge is stopped and started, the broker is
 * killed and restarted; after each, the edge must converge to the truth, and every
 * queued command must get a final answer.
 *
 * The edge outage lasts TETHER_E2E_OUTAGE_SECONDS (default 3 here, to keep `npm test`
 * fast — wrangler's own restart adds ~5 s; the scenario is 20:
 * `TETHER_E2E_OUTAGE_SECONDS=20 npx vitest run test/e2e/nothing-lost.test.ts`).
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Device } from "../../device-sdk/src/index.js";
import { E2ESystem, freshId, sleep, until } from "./helpers.js";

const OUTAGE_MS = Number(process.env.TETHER_E2E_OUTAGE_SECONDS ?? "3") * 1000;
/** The bound: every router correct at the edge within 60 s of the edge's return. */
const CONVERGE_MS = 60_000;

let e2e: E2ESystem;

beforeAll(async () => {
  // The chatty device publishes 12,500 events at once, far above the per-device publish
  // rate (issue 10: 20/s, burst 200), which would disconnect it as a flood. This file is
  // about the forwarder's bounds when a device may publish that much, so the limit is
  // raised here; test/security/broker-flood.test.ts covers the limit itself.
  e2e = await E2ESystem.start({
    brokerEnv: { DEVICE_PUBLISH_RATE: "1000000", DEVICE_PUBLISH_BURST: "1000000" },
  });
}, 90_000);

afterEach(async () => {
  await e2e.cleanup();
});

afterAll(async () => {
  await e2e?.stop();
}, 30_000);

/** Routers whose reconnects are quick, so a restarted broker sees them back in about a second. */
function fleet(label: string, count: number, keepalive = 10): Promise<Device[]> {
  return Promise.all(
    Array.from({ length: count }, (_, i) =>
      e2e.router(freshId(`${label}${i}`), () => {}, {
        keepalive,
        backoff: { initialDelayMs: 200, maxDelayMs: 1_000 },
      }),
    ),
  );
}

/** Ids whose edge view differs from `expected`, or [] when all match. */
async function mismatches(
  devices: Device[],
  expected: (index: number) => { online: boolean; state?: Record<string, unknown> },
): Promise<string[]> {
  const views = await Promise.all(devices.map((device) => e2e.view(device.id)));
  return devices.flatMap((device, i) => {
    const want = expected(i);
    const view = views[i];
    const stateOk = want.state === undefined || JSON.stringify(view?.state) === JSON.stringify(want.state);
    return view?.online === want.online && stateOk ? [] : [device.id];
  });
}

/**
 * A metric's value; `labels` null for one without labels. A labelled series not yet counted
 * reads 0; a metric without labels is always exported, so its absence (a renamed gauge) throws
 * rather than reading 0, which a wait for 0 would take as done.
 */
async function metric(name: string, labels: string | null): Promise<number> {
  const { text } = await e2e.broker("/metrics");
  const head = labels === null ? `${name} ` : `${name}{${labels}}`;
  const line = text.split("\n").find((l) => l.startsWith(head));
  if (!line && labels === null) throw new Error(`the broker exports no ${name}`);
  return line ? Number(line.split(" ").at(-1)) : 0;
}

describe.sequential("nothing lost (issue 12)", () => {
  it(`20 routers read the truth at the edge within 60 s after a ${OUTAGE_MS / 1000} s edge outage with 12,500 events`, async () => {
    const routers = await fleet("outage", 20);
    await Promise.all(routers.map((router) => router.whenOnline()));
    for (const router of routers) router.reportState({ phase: "before" });
    await until(
      "every router online with its first state at the edge",
      async () =>
        (await mismatches(routers, () => ({ online: true, state: { phase: "before" } }))).length === 0,
      15_000,
    );
    const chattyId = freshId("chatty");
    const chatty = await e2e.rawDevice(chattyId);

    await e2e.system.stopEdge();
    const downAt = Date.now();
    // Meanwhile: 10 routers go away, the other 10 report a new state, then one chatty
    // device publishes 12,500 small QoS 1 events (more than the old 10,000-event buffer).
    await Promise.all(routers.slice(0, 10).map((router) => router.close()));
    for (const router of routers.slice(10)) router.reportState({ phase: "after" });
    await sleep(200);
    await Promise.all(
      Array.from({ length: 12_500 }, (_, n) =>
        chatty.publishAsync(`devices/${chattyId}/events/tick`, JSON.stringify({ n }), { qos: 1 }),
      ),
    );
    await sleep(Math.max(0, downAt + OUTAGE_MS - Date.now()));
    await e2e.system.startEdge();
    const upAt = Date.now();

    const expected = (i: number) =>
      i < 10 ? { online: false, state: { phase: "before" } } : { online: true, state: { phase: "after" } };
    let wrong: string[] = [];
    try {
      await until(
        "all 20 routers correct at the edge",
        async () => {
          wrong = await mismatches(routers, expected);
          return wrong.length === 0;
        },
        CONVERGE_MS,
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}: still wrong ${wrong.length} of 20 (${wrong.join(", ")})`);
    }
    console.log(
      `edge down ${((upAt - downAt) / 1000).toFixed(1)} s; all 20 routers correct ${((Date.now() - upAt) / 1000).toFixed(1)} s after it answered again`,
    );
  }, 150_000);

  it("delivers 20 states of 60 KiB sent in one burst with a poison event: only the poison is refused", async () => {
    const routers = await fleet("burst", 20);
    await Promise.all(routers.map((router) => router.whenOnline()));
    const poisonId = freshId("poison");
    const poison = await e2e.rawDevice(poisonId);
    const watcher = await e2e.socket(poisonId);
    const tooDeepBefore = await metric("tether_invalid_payloads_total", 'reason="too_deep"');

    // 7,000 levels of [[[…]]]: valid for JSON.parse, fatal for JSON.stringify.
    const deep = `${"[".repeat(7_000)}${"]".repeat(7_000)}`;
    const blob = "x".repeat(60 * 1024);
    poison.publish(`devices/${poisonId}/events/deep`, deep, { qos: 1 });
    for (const [i, router] of routers.entries()) router.reportState({ blob, i });

    await until(
      "all 20 large states at the edge",
      async () => (await mismatches(routers, (i) => ({ online: true, state: { blob, i } }))).length === 0,
      20_000,
    );
    await until(
      "the poison counted as refused",
      async () => (await metric("tether_invalid_payloads_total", 'reason="too_deep"')) === tooDeepBefore + 1,
    );
    expect(watcher.ofType("event")).toEqual([]);
  }, 60_000);

  it("keeps the broker's heap within 64 MiB of growth while one device publishes 300 × 60 KiB events during an edge outage", async () => {
    const heapUsed = async () => {
      const { text } = await e2e.broker("/debug/memory");
      return (JSON.parse(text) as { memory: { heapUsed: number } }).memory.heapUsed;
    };
    const heavyId = freshId("heavy");
    const heavy = await e2e.rawDevice(heavyId);
    // 60 KiB of [{},{},…]: 20,480 objects once parsed (~1.4 MB of heap each), 60 KiB as JSON.
    const payload = `[${"{},".repeat(20_479)}{}]`;
    await e2e.system.stopEdge();
    try {
      const before = await heapUsed();
      let peak = before;
      for (let n = 0; n < 300; n += 10) {
        await Promise.all(
          Array.from({ length: 10 }, () =>
            heavy.publishAsync(`devices/${heavyId}/events/blob`, payload, { qos: 1 }),
          ),
        );
        peak = Math.max(peak, await heapUsed());
      }
      const growth = peak - before;
      console.log(
        `broker heap: ${(before / 2 ** 20).toFixed(1)} MiB before, peak growth ${(growth / 2 ** 20).toFixed(1)} MiB`,
      );
      // FORWARDER_MAX_BYTES (32 MiB by default) of events, plus room for garbage not yet collected.
      expect(growth).toBeLessThan(64 * 2 ** 20);
    } finally {
      await e2e.system.startEdge();
      // The next tests time fresh events; they must not wait behind this backlog (18 MB of
      // events the broker replays to the new edge: ~10 s on a slow machine).
      const drainStart = Date.now();
      await until(
        "the broker's backlog for the edge drained",
        async () => (await metric("tether_forwarder_queue_depth", null)) === 0,
        60_000,
      );
      console.log(`backlog for the edge drained ${Date.now() - drainStart} ms after its restart`);
    }
  }, 120_000);

  it("ends a queued command past its ttl as command_expired, on the WebSocket and at the status endpoint", async () => {
    const [router] = await fleet("expiry", 1);
    if (!router) throw new Error("no router");
    await router.whenOnline();
    await router.close(); // its persistent session stays, to queue into
    await e2e.waitForPresence(router.id, false);
    const socket = await e2e.socket(router.id);

    const queued = await e2e.command(router.id, { name: "update", queue: true, ttlMs: 1_000 });
    expect(queued.status).toBe(202);
    const commandId = (queued.body as { id: string }).id;
    expect((await e2e.commandStatus(router.id, commandId)).body).toMatchObject({ status: "queued" });

    const frame = await socket.waitFor(
      "command_result command_expired",
      (f) => f.type === "command_result" && f.id === commandId,
      10_000,
    );
    expect(frame).toMatchObject({ deviceId: router.id, ok: false, error: { code: "command_expired" } });
    expect(await e2e.commandStatus(router.id, commandId)).toMatchObject({
      status: 200,
      body: { id: commandId, status: "done", ok: false, error: { code: "command_expired" } },
    });
    expect((await e2e.commandStatus(router.id, crypto.randomUUID())).status).toBe(404);
  }, 30_000);

  it("after a memory-mode broker is killed with SIGKILL under 5 routers, the 2 that never come back read offline (broker_restart)", async () => {
    const keepalive = 1;
    const routers = await fleet("restart", 5, keepalive);
    await Promise.all(routers.map((router) => router.whenOnline()));
    await Promise.all(routers.map((router) => e2e.waitForPresence(router.id, true)));
    const rosterFile = join(e2e.system.brokerStateDir, "online-devices.json");
    await until("the roster lists the 5", async () => {
      const text = await readFile(rosterFile, "utf8").catch(() => "");
      return routers.every((router) => text.includes(router.id));
    });
    const gone = routers.slice(3);
    const sockets = await Promise.all(gone.map((router) => e2e.socket(router.id)));

    await e2e.system.killBroker("SIGKILL");
    await Promise.all(gone.map((router) => router.close()));
    await e2e.system.startBroker();

    for (const [i, socket] of sockets.entries()) {
      const frame = await socket.waitFor(
        "presence offline broker_restart",
        (f) => f.type === "presence" && f.online === false,
        keepalive * 1_500 + 10_000,
      );
      expect(frame).toMatchObject({ deviceId: gone[i]?.id, reason: "broker_restart" });
    }
    for (const router of gone) expect((await e2e.view(router.id)).online).toBe(false);
    for (const router of routers.slice(0, 3)) await e2e.waitForPresence(router.id, true, 10_000);
  }, 60_000);
});
