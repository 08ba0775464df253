import { afterEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../broker/src/clock.js";
import {
  answerCommands,
  api,
  cleanupAll,
  connectDevice,
  deviceId,
  startTestBroker,
  waitFor,
} from "./helpers.js";

afterEach(cleanupAll);

describe("commands over HTTP", () => {
  it("answers 200 with the device's result when the device answers in time", async () => {
    const broker = await startTestBroker();
    const id = deviceId();
    const client = await connectDevice(broker, id);
    answerCommands(client, id, (command) => ({
      id: command.id,
      ok: true,
      result: { echoed: command.params },
    }));
    const reply = await api(broker, `/v1/devices/${id}/commands`, {
      body: { name: "ping", params: { n: 1 } },
    });
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ ok: true, result: { echoed: { n: 1 } } });
    expect((await broker.stats()).pendingCommands).toBe(0);
  });

  it("passes a failed result through as 200 with ok false", async () => {
    const broker = await startTestBroker();
    const id = deviceId();
    const client = await connectDevice(broker, id);
    answerCommands(client, id, (command) => ({
      id: command.id,
      ok: false,
      error: { code: "boom", message: "no" },
    }));
    const reply = await api(broker, `/v1/devices/${id}/commands`, { body: { name: "reboot" } });
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ ok: false, error: { code: "boom" } });
  });

  it("answers 504 timeout when the device stays silent, and forgets the pending entry", async () => {
    const broker = await startTestBroker();
    const id = deviceId();
    await connectDevice(broker, id);
    const reply = await api(broker, `/v1/devices/${id}/commands`, { body: { name: "ping", timeoutMs: 150 } });
    expect(reply.status).toBe(504);
    expect(reply.body).toMatchObject({ id: expect.any(String), error: { code: "timeout" } });
    const stats = await broker.stats();
    expect(stats.pendingCommands).toBe(0);
  });

  it("answers 409 device_offline for an offline device when queue is false", async () => {
    const broker = await startTestBroker();
    const reply = await api(broker, `/v1/devices/${deviceId()}/commands`, { body: { name: "ping" } });
    expect(reply.status).toBe(409);
    expect(reply.body).toMatchObject({ error: { code: "device_offline" } });
  });

  it("fails a pending command with 409 when the device disconnects while it waits", async () => {
    const broker = await startTestBroker();
    const id = deviceId();
    const client = await connectDevice(broker, id);
    client.on("message", () => client.end(true));
    const reply = await api(broker, `/v1/devices/${id}/commands`, {
      body: { name: "ping", timeoutMs: 5_000 },
    });
    expect(reply.status).toBe(409);
    expect((await broker.stats()).pendingCommands).toBe(0);
  });

  it("queues a command for an offline persistent session (202) and delivers it on reconnect", async () => {
    const broker = await startTestBroker();
    const id = deviceId();
    const first = await connectDevice(broker, id, { clean: false });
    await first.endAsync();
    await waitFor(async () => (await api(broker, `/v1/devices/${id}`)).body, 2_000);
    const reply = await api(broker, `/v1/devices/${id}/commands`, { body: { name: "update", queue: true } });
    expect(reply.status).toBe(202);
    expect(reply.body).toMatchObject({ id: expect.any(String), queued: true, expiresAt: expect.any(Number) });
    const commandId = (reply.body as { id: string }).id;

    const second = await connectDevice(broker, id, { clean: false, subscribeCommands: false });
    const received = answerCommands(second, id, () => undefined);
    await waitFor(() => received.length === 1, 3_000, "queued command delivered");
    expect(received[0]).toMatchObject({ id: commandId, name: "update" });
  });

  it("refuses to queue (409) for a device that has no persistent session", async () => {
    const broker = await startTestBroker();
    const id = deviceId();
    const client = await connectDevice(broker, id, { clean: true });
    await client.endAsync();
    const reply = await api(broker, `/v1/devices/${id}/commands`, { body: { name: "update", queue: true } });
    expect(reply.status).toBe(409);
  });

  it("never delivers a queued command after its expiresAt", async () => {
    const clock = new ManualClock(Date.now());
    const broker = await startTestBroker({ clock });
    const id = deviceId();
    const first = await connectDevice(broker, id, { clean: false });
    await first.endAsync();
    await waitFor(
      async () => !(await api(broker, `/v1/devices/${id}`)).body?.toString().includes('"online":true'),
    );
    const reply = await api(broker, `/v1/devices/${id}/commands`, {
      body: { name: "update", queue: true, ttlMs: 1_000 },
    });
    expect(reply.status).toBe(202);
    clock.advance(1_001);

    const second = await connectDevice(broker, id, { clean: false, subscribeCommands: false });
    const received = answerCommands(second, id, () => undefined);
    // A fresh command sent afterwards arrives; the expired one never does.
    answerCommands(second, id, (command) => ({ id: command.id, ok: true, result: null }));
    const fresh = await api(broker, `/v1/devices/${id}/commands`, { body: { name: "ping" } });
    expect(fresh.status).toBe(200);
    expect(received.map((c) => c.name)).toEqual(["ping"]);
  });

  it("answers 400 invalid_request for a bad body and 401 without the token", async () => {
    const broker = await startTestBroker();
    const id = deviceId();
    const bad = await api(broker, `/v1/devices/${id}/commands`, { body: { name: "", timeoutMs: 5 } });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: { code: "invalid_request" } });
    const notJson = await api(broker, `/v1/devices/${id}/commands`, { body: "{nope" });
    expect(notJson.status).toBe(400);
    const noToken = await api(broker, `/v1/devices/${id}/commands`, { body: { name: "ping" }, token: null });
    expect(noToken.status).toBe(401);
    expect(noToken.body).toMatchObject({ error: { code: "unauthorized" } });
    const wrongToken = await api(broker, `/v1/devices/${id}`, { token: "wrong" });
    expect(wrongToken.status).toBe(401);
  });

  it("answers 429 when the device already has its maximum of pending commands", async () => {
    const broker = await startTestBroker({ maxPendingPerDevice: 1 });
    const id = deviceId();
    await connectDevice(broker, id);
    const first = api(broker, `/v1/devices/${id}/commands`, { body: { name: "slow", timeoutMs: 500 } });
    await waitFor(async () => (await broker.stats()).pendingCommands === 1);
    const second = await api(broker, `/v1/devices/${id}/commands`, { body: { name: "slow" } });
    expect(second.status).toBe(429);
    expect(second.body).toMatchObject({ error: { code: "rate_limited" } });
    expect((await first).status).toBe(504);
  });

  it("reports presence and the last state on GET /v1/devices/{id}", async () => {
    const broker = await startTestBroker();
    const id = deviceId();
    const client = await connectDevice(broker, id);
    await client.publishAsync(`devices/${id}/state`, JSON.stringify({ fw: "1.2.3" }), {
      qos: 1,
      retain: true,
    });
    const view = await waitFor(async () => {
      const reply = await api(broker, `/v1/devices/${id}`);
      return (reply.body as { state: unknown }).state ? reply : null;
    });
    expect(view?.body).toMatchObject({ id, online: true, state: { fw: "1.2.3" } });
    expect(view?.body).toMatchObject({ since: expect.any(Number), lastSeen: expect.any(Number) });
  });

  it("serves /healthz without a token and /metrics with one", async () => {
    const broker = await startTestBroker();
    expect(await api(broker, "/healthz", { token: null })).toMatchObject({ status: 200, body: { ok: true } });
    const metrics = await api(broker, "/metrics");
    expect(metrics.status).toBe(200);
    expect(String(metrics.body)).toContain("tether_connections");
  });
});
