import { env, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { COMMAND_LOG_LIMITS } from "../../edge/src/channel/command-log.js";
import { freshDeviceId, mockBroker, postEvents, railsRequest } from "./helpers.js";

afterEach(() => {
  vi.restoreAllMocks();
});

const post = (body: unknown) => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});

const status = async (deviceId: string, commandId: string) => {
  const res = await railsRequest(`/v1/devices/${deviceId}/commands/${commandId}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

/** The id the edge gave the command, as the broker received it. */
function sentId(calls: ReturnType<typeof mockBroker>["calls"], index = 0): string {
  const body = calls[index]?.body;
  const id = typeof body === "object" && body !== null ? Reflect.get(body, "id") : undefined;
  if (typeof id !== "string") throw new Error(`no id in ${JSON.stringify(body)}`);
  return id;
}

describe("GET /v1/devices/{id}/commands/{commandId}", () => {
  it("reads pending while the broker works on a command, then done with the device's result", async () => {
    const id = freshDeviceId();
    // The broker takes its time (an I/O object cannot cross from the test into the Worker,
    // so the answer is timed rather than released by the test).
    const { calls } = mockBroker(async (_request, body) => {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const commandId = (JSON.parse(body) as { id: string }).id;
      return Response.json({ id: commandId, ok: true, result: { rebooting: true } });
    });
    const reply = railsRequest(`/v1/devices/${id}/commands`, post({ name: "reboot" }));
    await vi.waitFor(() => expect(calls).toHaveLength(1));
    const commandId = sentId(calls);
    expect(await status(id, commandId)).toEqual({
      status: 200,
      body: {
        id: commandId,
        deviceId: id,
        status: "pending",
        createdAt: expect.any(Number),
        updatedAt: expect.any(Number),
      },
    });

    expect((await reply).status).toBe(200);
    expect((await status(id, commandId)).body).toMatchObject({
      status: "done",
      ok: true,
      result: { rebooting: true },
    });
  });

  it("reads queued after a 202, then done with command_expired when the broker's command_result ends it", async () => {
    const id = freshDeviceId();
    const expiresAt = Date.now() + 60_000;
    const { calls } = mockBroker((_request, body) => {
      const commandId = (JSON.parse(body) as { id: string }).id;
      return Response.json({ id: commandId, queued: true, expiresAt }, { status: 202 });
    });
    const reply = await railsRequest(`/v1/devices/${id}/commands`, post({ name: "update", queue: true }));
    expect(reply.status).toBe(202);
    const commandId = sentId(calls);
    expect((await status(id, commandId)).body).toMatchObject({ status: "queued", expiresAt });

    const ended = await postEvents({
      events: [
        {
          type: "command_result",
          deviceId: id,
          ts: Date.now(),
          id: commandId,
          ok: false,
          error: { code: "command_expired", message: "the command's ttl passed" },
        },
      ],
    });
    expect(ended.status).toBe(200);
    expect((await status(id, commandId)).body).toMatchObject({
      status: "done",
      ok: false,
      error: { code: "command_expired", message: "the command's ttl passed" },
    });
  });

  it("records the broker's refusal, or its absence, as the final status", async () => {
    const id = freshDeviceId();
    const { calls } = mockBroker((_request, body) => {
      const commandId = (JSON.parse(body) as { id: string }).id;
      return Response.json(
        { id: commandId, error: { code: "device_offline", message: "offline" } },
        { status: 409 },
      );
    });
    await railsRequest(`/v1/devices/${id}/commands`, post({ name: "reboot" }));
    expect((await status(id, sentId(calls))).body).toMatchObject({
      status: "done",
      ok: false,
      error: { code: "device_offline" },
    });

    vi.restoreAllMocks();
    const unreachable = mockBroker(() => {
      throw new TypeError("fetch failed");
    });
    expect((await railsRequest(`/v1/devices/${id}/commands`, post({ name: "reboot" }))).status).toBe(502);
    expect((await status(id, sentId(unreachable.calls))).body).toMatchObject({
      status: "done",
      ok: false,
      error: { code: "broker_unavailable" },
    });
  });

  it("never costs Rails the command when the device's object cannot record it (SQLITE_NOMEM)", async () => {
    const id = freshDeviceId();
    const { calls } = mockBroker(async (_request, body) => {
      const commandId = (JSON.parse(body) as { id: string }).id;
      return Response.json({ id: commandId, ok: true, result: { pong: true } });
    });
    // Every statement of this device's object fails, as workerd's SQLite did under load
    // (test/edge/job-busy.test.ts): the record is lost, the command is not.
    await runInDurableObject(env.DEVICE_CHANNEL.getByName(id), (_instance, state) => {
      vi.spyOn(state.storage.sql, "exec").mockImplementation(() => {
        throw new Error("out of memory: SQLITE_NOMEM");
      });
    });
    const reply = await railsRequest(`/v1/devices/${id}/commands`, post({ name: "ping" }));
    expect(reply.status).toBe(200);
    expect(await reply.json()).toMatchObject({ ok: true, result: { pong: true } });
    expect(calls).toHaveLength(1);
  });

  it("answers 404 for an unknown id, 400 for a malformed one, and 401 without the Rails token", async () => {
    const id = freshDeviceId();
    expect(await status(id, crypto.randomUUID())).toEqual({
      status: 404,
      body: { error: { code: "not_found", message: expect.any(String) } },
    });
    expect((await status(id, "no")).status).toBe(400);
    const res = await railsRequest(`/v1/devices/${id}/commands/${crypto.randomUUID()}`, {}, "not-the-token");
    expect(res.status).toBe(401);
    // The token is checked before the device id and the command id (nothing learnt without it).
    const invalid = await railsRequest("/v1/devices/bad%20id/commands/no", {}, "not-the-token");
    expect(invalid.status).toBe(401);
  });

  it("forgets a command after the retention, and keeps at most the bounded count per device", async () => {
    const id = freshDeviceId();
    const stub = env.DEVICE_CHANNEL.getByName(id);
    const old = crypto.randomUUID();
    const start = Date.now();
    await runInDurableObject(stub, (instance) => {
      instance.now = () => start;
      instance.commandSent(id, old);
      for (let i = 0; i < COMMAND_LOG_LIMITS.maxRows; i++) {
        instance.now = () => start + 1 + i;
        instance.commandSent(id, `cmd-${String(i).padStart(6, "0")}`);
      }
    });
    // The oldest fell out of the bound; the newest are all there.
    expect((await status(id, old)).status).toBe(404);
    expect((await status(id, "cmd-000000")).body).toMatchObject({ status: "pending" });
    const count = await runInDurableObject(stub, (_instance, state) =>
      state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM command_log").one(),
    );
    expect(count.n).toBe(COMMAND_LOG_LIMITS.maxRows);

    await runInDurableObject(stub, (instance) => {
      instance.now = () => start + COMMAND_LOG_LIMITS.retentionMs + 10_000;
    });
    expect((await status(id, "cmd-000999")).status).toBe(404);
  });
});
