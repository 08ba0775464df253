/**
 * End to end (issue 5): a real broker process, the real edge on workerd (wrangler
 * dev), SDK routers over MQTT and `ws` clients, all on ephemeral ports. The run's
 * shared system (test/setup/e2e-system.ts); each test uses its own device ids.
 */

import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { detachSocket } from "../../device-sdk/src/fault-injection.js";
import type { Device } from "../../device-sdk/src/index.js";
import { bearer, SIGNATURE_HEADER, signBody } from "../../protocol/src/index.js";
import { ClientSocket, E2ESystem, edgeFetch, freshId, RefusedUpgrade, sleep, until } from "./helpers.js";

/** Long enough for a frame that should not come to have arrived if it were sent. */
const QUIET_MS = 750;

let e2e: E2ESystem;

beforeAll(async () => {
  e2e = await E2ESystem.shared();
}, 90_000);

afterEach(async () => {
  await e2e.cleanup();
});

afterAll(async () => {
  await e2e?.stop();
}, 30_000);

/** Frames other than the snapshot, i.e. everything delivered after connecting. */
function delivered(socket: ClientSocket) {
  return socket.frames.filter((frame) => frame.type !== "snapshot");
}

describe.sequential("tether end to end", () => {
  it("answers a Rails command with the router's result: edge → broker → router → edge → Rails", async () => {
    const id = freshId("rails");
    const router = await e2e.router(id, (device) => {
      device.command("echo", (params) => ({ echoed: params }));
      device.command("explode", () => {
        throw new Error("boom");
      });
    });
    await router.whenOnline();

    const ok = await e2e.command(id, { name: "echo", params: { n: 7 } });
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ id: expect.any(String), ok: true, result: { echoed: { n: 7 } } });

    // The command ran and failed: still 200, the device's own answer as is.
    const failed = await e2e.command(id, { name: "explode" });
    expect(failed.status).toBe(200);
    expect(failed.body).toMatchObject({ ok: false, error: { code: "handler_error" } });
  });

  it("sends a router's state change and event to every mobile and web socket of that device, and to no other", async () => {
    const id = freshId("fanout");
    const other = freshId("fanout-other");
    const router = await e2e.router(id);
    const bystander = await e2e.router(other);
    await Promise.all([router.whenOnline(), bystander.whenOnline()]);
    await Promise.all([e2e.waitForPresence(id, true), e2e.waitForPresence(other, true)]);
    const [mobile, web, web2, otherSocket] = await Promise.all([
      e2e.socket(id, "mobile"),
      e2e.socket(id, "web"),
      e2e.socket(id, "web"),
      e2e.socket(other, "mobile"),
    ]);

    router.reportState({ firmware: "2.0.1", wifi: { ssid: "home" } });
    router.emit("client_joined", { mac: "aa:bb:cc:dd:ee:ff" });

    for (const socket of [mobile, web, web2]) {
      const state = await socket.waitFor("state frame", (f) => f.type === "state");
      expect(state).toMatchObject({ deviceId: id, state: { firmware: "2.0.1", wifi: { ssid: "home" } } });
      const event = await socket.waitFor("event frame", (f) => f.type === "event");
      expect(event).toMatchObject({
        deviceId: id,
        name: "client_joined",
        data: { mac: "aa:bb:cc:dd:ee:ff" },
      });
    }
    await sleep(QUIET_MS);
    expect(delivered(otherSocket)).toEqual([]);
    // The edge's own view follows too (served from the Durable Object, not the broker).
    expect((await e2e.view(id)).state).toEqual({ firmware: "2.0.1", wifi: { ssid: "home" } });
  });

  it("tells the sockets a router vanished within 1.5× keepalive, then that it is back, and a new socket's snapshot says online", async () => {
    const id = freshId("vanish");
    const keepaliveS = 2;
    // Reconnect only after ~6 s, so the broker must notice the silence on its own first.
    const router = await e2e.router(id, () => {}, {
      keepalive: keepaliveS,
      backoff: { initialDelayMs: 6_000, maxDelayMs: 6_000, multiplier: 1 },
      random: () => 0.99,
    });
    await router.whenOnline();
    await e2e.waitForPresence(id, true);
    const sockets = await Promise.all([e2e.socket(id, "mobile"), e2e.socket(id, "web")]);

    const detachedAt = Date.now();
    const halfOpen = detachSocket(router); // no DISCONNECT, no FIN: the broker sees silence
    expect(halfOpen).not.toBeNull();
    try {
      for (const socket of sockets) {
        const offline = await socket.waitFor(
          "presence offline",
          (f) => f.type === "presence" && f.online === false,
          keepaliveS * 1_500 + 3_000,
        );
        expect(offline).toMatchObject({ deviceId: id, reason: "keepalive_timeout" });
      }
      const offlineAfterMs = Date.now() - detachedAt;
      // 1.5 × keepalive is when the broker must give up; allow 500 ms for broker → edge → socket.
      expect(offlineAfterMs).toBeLessThanOrEqual(keepaliveS * 1_500 + 500);
    } finally {
      halfOpen?.destroy();
    }

    for (const socket of sockets) {
      await socket.waitFor(
        "presence online again",
        (f) => f.type === "presence" && f.online === true,
        10_000,
      );
    }
    const late = await e2e.socket(id, "web");
    const [snapshot] = late.ofType("snapshot");
    expect(snapshot).toMatchObject({ type: "snapshot", device: { id, online: true } });
  }, 30_000);

  it("refuses a command to an offline router (409), queues one when asked (202) and delivers it on reconnect; one past its ttl never runs", async () => {
    const id = freshId("queue");
    const ran: unknown[] = [];
    const handlers = (device: Device) =>
      device.command("note", (params) => {
        ran.push(params);
        return { noted: params };
      });

    // A device that never connected has no session to queue into.
    const never = await e2e.command(freshId("never"), { name: "note", queue: true });
    expect(never.status).toBe(409);
    expect(never.body).toMatchObject({ error: { code: "device_offline" } });

    // Connect once (persistent session, commands subscribed), then go away cleanly.
    const first = await e2e.router(id, handlers);
    await first.whenOnline();
    await first.close();
    await e2e.waitForPresence(id, false);
    const sockets = await Promise.all([e2e.socket(id, "mobile"), e2e.socket(id, "web")]);

    const refused = await e2e.command(id, { name: "note", params: { n: "refused" } });
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ id: expect.any(String), error: { code: "device_offline" } });

    const queued = await e2e.command(id, { name: "note", params: { n: "queued" }, queue: true });
    expect(queued.status).toBe(202);
    expect(queued.body).toMatchObject({
      id: expect.any(String),
      queued: true,
      expiresAt: expect.any(Number),
    });
    const stale = await e2e.command(id, { name: "note", params: { n: "stale" }, queue: true, ttlMs: 1_000 });
    expect(stale.status).toBe(202);
    const queuedId = (queued.body as { id: string }).id;
    const staleId = (stale.body as { id: string; expiresAt: number }).id;
    const staleExpiresAt = (stale.body as { expiresAt: number }).expiresAt;
    await until("the short ttl to pass", () => Date.now() > staleExpiresAt + 250, 5_000);

    const back = await e2e.router(id, handlers);
    await back.whenOnline();
    for (const socket of sockets) {
      const result = await socket.waitFor(
        "command_result of the queued command",
        (f) => f.type === "command_result" && f.id === queuedId,
        10_000,
      );
      expect(result).toMatchObject({ deviceId: id, ok: true, result: { noted: { n: "queued" } } });
    }
    await sleep(QUIET_MS);
    expect(ran).toEqual([{ n: "queued" }]);
    for (const socket of sockets) {
      const staleOk = socket.frames.filter(
        (f) => f.type === "command_result" && f.id === staleId && f.ok === true,
      );
      expect(staleOk).toEqual([]);
    }
  }, 30_000);

  it("answers a client's command frame on that socket only", async () => {
    const id = freshId("wscmd");
    const router = await e2e.router(id, (device) => device.command("ping", () => ({ pong: true })));
    await router.whenOnline();
    await e2e.waitForPresence(id, true);
    const [asker, watcher] = await Promise.all([
      e2e.socket(id, "mobile", { cmd: true }),
      e2e.socket(id, "web"),
    ]);

    asker.send({ type: "command", id: "cmd-1", name: "ping" });
    asker.send({ type: "command", id: "cmd-2", name: "no_such_command" });

    const pong = await asker.waitFor(
      "result of cmd-1",
      (f) => f.type === "command_result" && f.id === "cmd-1",
    );
    expect(pong).toMatchObject({ deviceId: id, ok: true, result: { pong: true } });
    const unknown = await asker.waitFor(
      "result of cmd-2",
      (f) => f.type === "command_result" && f.id === "cmd-2",
    );
    expect(unknown).toMatchObject({ ok: false, error: { code: "unknown_command" } });
    await sleep(QUIET_MS);
    expect(watcher.ofType("command_result")).toEqual([]);
    expect(asker.ofType("command_result")).toHaveLength(2);
  });

  it("keeps the launcher's secrets and BROKER_URL in force when the edge's config dir has a stray .dev.vars", async () => {
    const id = freshId("devvars");
    const router = await e2e.router(id, (device) => device.command("ping", () => ({ pong: true })));
    await router.whenOnline();
    expect((await e2e.command(id, { name: "ping" }, "stray-dev-vars-rails-token")).status).toBe(401);
    const strayJwt = await e2e.clientToken([id], "web", { secret: "stray-dev-vars-jwt-secret" });
    await expect(ClientSocket.open(e2e.socketUrl(id), strayJwt)).rejects.toMatchObject({ status: 401 });
    // Reaching the router proves BROKER_URL and BROKER_API_TOKEN are the launcher's too.
    expect((await e2e.command(id, { name: "ping" })).body).toMatchObject({
      ok: true,
      result: { pong: true },
    });
  });

  it("refuses a bad Rails token, a bad client JWT and a forged event signature, and delivers nothing", async () => {
    const id = freshId("auth");
    const ran: unknown[] = [];
    const router = await e2e.router(id, (device) => device.command("reboot", (params) => ran.push(params)));
    await router.whenOnline();
    await e2e.waitForPresence(id, true);
    const watcher = await e2e.socket(id, "web");

    // Rails: wrong, missing and broker-not-edge tokens.
    for (const token of ["not-the-rails-token", "", e2e.secrets.BROKER_API_TOKEN]) {
      const refused = await e2e.command(id, { name: "reboot" }, token);
      expect(refused.status).toBe(401);
      expect(refused.body).toMatchObject({ error: { code: "unauthorized", message: expect.any(String) } });
    }
    expect((await e2e.rails(`/v1/devices/${id}`, {}, "not-the-rails-token")).status).toBe(401);
    // The broker's own API is guarded as well.
    const atBroker = await fetch(`${e2e.urls.brokerHttp}/v1/devices/${id}/commands`, {
      method: "POST",
      headers: { authorization: bearer(e2e.secrets.RAILS_API_TOKEN), "content-type": "application/json" },
      body: JSON.stringify({ name: "reboot" }),
    });
    expect(atBroker.status).toBe(401);

    // Client JWTs: forged, expired, and valid but for other devices.
    const url = e2e.socketUrl(id);
    const refusals = [
      [await e2e.clientToken([id], "web", { secret: "not-the-jwt-secret" }), 401],
      // Expired beyond the edge's 60 s leeway for clock skew.
      [await e2e.clientToken([id], "web", { exp: Math.floor(Date.now() / 1000) - 120 }), 401],
      ["not.a.jwt", 401],
      [await e2e.clientToken([freshId("someone-else")], "mobile"), 403],
    ] as const;
    for (const [token, status] of refusals) {
      const error = await ClientSocket.open(url, token).then(
        async (socket) => {
          await socket.close();
          return null;
        },
        (reason: unknown) => reason,
      );
      expect(error).toBeInstanceOf(RefusedUpgrade);
      expect((error as RefusedUpgrade).status).toBe(status);
    }

    // Broker → edge events: forged signature, and a genuine one replayed too late.
    const raw = JSON.stringify({
      batchId: crypto.randomUUID(),
      events: [{ type: "state", deviceId: id, ts: Date.now(), state: { hacked: true } }],
    });
    const post = async (signature: string) =>
      (
        await edgeFetch(`${e2e.urls.edge}/internal/events`, {
          method: "POST",
          headers: { "content-type": "application/json", [SIGNATURE_HEADER]: signature },
          body: raw,
        })
      ).status;
    expect(await post(await signBody("not-the-events-secret", raw, Date.now() / 1000))).toBe(401);
    expect(await post(await signBody(e2e.secrets.EDGE_EVENTS_SECRET, raw, Date.now() / 1000 - 301))).toBe(
      401,
    );
    expect(await post("t=1,v1=00")).toBe(401);

    await sleep(QUIET_MS);
    expect(ran).toEqual([]);
    expect(delivered(watcher)).toEqual([]);
    expect((await e2e.view(id)).state).toBeNull();

    // The same batch, signed with the real secret, does reach the socket: the checks above could fail.
    expect(await post(await signBody(e2e.secrets.EDGE_EVENTS_SECRET, raw, Date.now() / 1000))).toBe(200);
    await watcher.waitFor("the genuine state frame", (f) => f.type === "state");
  });
});
