import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { DESIRED_LIMITS } from "../../protocol/src/index.js";
import {
  type BrokerCall,
  ClientSocket,
  clientToken,
  freshDeviceId,
  mockBroker,
  postEvents,
  railsRequest,
} from "./helpers.js";

const open: ClientSocket[] = [];
afterEach(() => {
  vi.restoreAllMocks();
  for (const socket of open.splice(0)) socket.close();
});

const MERGE_PATCH = "application/merge-patch+json";

function patch(id: string, body: unknown, headers: Record<string, string> = {}) {
  return railsRequest(`/v1/devices/${id}/desired`, {
    method: "PATCH",
    headers: { "content-type": MERGE_PATCH, ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

/** A broker that takes every document (200), recording the PUTs. */
const acceptingBroker = () =>
  mockBroker((request, text) => {
    const doc = JSON.parse(text) as { version: number };
    return Response.json({ id: request.url, version: doc.version, outcome: "stored" });
  });

const puts = (calls: BrokerCall[]) => calls.filter((call) => call.method === "PUT");

async function view(id: string): Promise<Record<string, unknown>> {
  return (await (await railsRequest(`/v1/devices/${id}`)).json()) as Record<string, unknown>;
}

const stateEvent = (deviceId: string, state: Record<string, unknown>) => ({
  type: "state",
  deviceId,
  ts: Date.now(),
  state,
});

describe("PATCH /v1/devices/{id}/desired (issue 15)", () => {
  it("applies a merge patch, answers the version with an ETag, and hands the document to the broker", async () => {
    const { calls } = acceptingBroker();
    const id = freshDeviceId();
    const first = await patch(id, { wifi: { ssid: "a", band: "5GHz" }, led: "on" });
    expect(first.status).toBe(200);
    expect(first.headers.get("etag")).toBe('"1"');
    expect(await first.json()).toEqual({
      version: 1,
      desired: { wifi: { ssid: "a", band: "5GHz" }, led: "on" },
    });
    const second = await patch(
      id,
      { wifi: { band: null }, led: null },
      { "content-type": "application/json" },
    );
    expect(await second.json()).toEqual({ version: 2, desired: { wifi: { ssid: "a" } } });
    await vi.waitFor(() =>
      expect(puts(calls).at(-1)?.body).toEqual({ version: 2, desired: { wifi: { ssid: "a" } } }),
    );
    const put = puts(calls).at(-1);
    expect(put?.url).toBe(`${env.BROKER_URL}/v1/devices/${id}/desired`);
    expect(put?.authorization).toBe(`Bearer ${env.BROKER_API_TOKEN}`);
    expect(await view(id)).toMatchObject({
      desired: { wifi: { ssid: "a" } },
      desiredVersion: 2,
      reportedDesiredVersion: null,
      delta: { wifi: { ssid: "a" } },
      desiredError: null,
    });
  });

  it("If-Match: the current version passes, a stale one is 412 version_conflict, garbage is 400", async () => {
    acceptingBroker();
    const id = freshDeviceId();
    expect((await patch(id, { a: 1 }, { "if-match": "0" })).status).toBe(200);
    const stale = await patch(id, { a: 2 }, { "if-match": '"0"' });
    expect(stale.status).toBe(412);
    expect(await stale.json()).toEqual({ error: { code: "version_conflict", message: expect.any(String) } });
    expect((await patch(id, { a: 2 }, { "if-match": 'W/"1"' })).status).toBe(200);
    expect((await patch(id, { a: 3 }, { "if-match": "*" })).status).toBe(200);
    const bad = await patch(id, { a: 4 }, { "if-match": "yesterday" });
    expect(bad.status).toBe(400);
    expect((await view(id)).desired).toEqual({ a: 3 });
  });

  it("bounds the document (413 above 8 KiB, 400 deeper than 32 levels) and refuses what is not a JSON object patch", async () => {
    const { calls } = acceptingBroker();
    const id = freshDeviceId();
    const big = await patch(id, { blob: "x".repeat(DESIRED_LIMITS.maxBytes) });
    expect(big.status).toBe(413);
    expect(await big.json()).toMatchObject({ error: { code: "payload_too_large" } });
    // Two patches that each fit, but not together.
    expect((await patch(id, { a: "x".repeat(5_000) })).status).toBe(200);
    expect((await patch(id, { b: "x".repeat(5_000) })).status).toBe(413);
    const huge = await patch(id, { blob: "x".repeat(5 * DESIRED_LIMITS.maxBytes) });
    expect(huge.status).toBe(413);
    const deep = await patch(id, `${'{"d":'.repeat(40)}1${"}".repeat(40)}`);
    expect(deep.status).toBe(400);
    expect(await deep.json()).toMatchObject({ error: { code: "invalid_request" } });
    for (const body of ["[1,2]", "null", "{", '"x"']) expect((await patch(id, body)).status).toBe(400);
    const text = await patch(id, { a: 1 }, { "content-type": "text/plain" });
    expect(text.status).toBe(415);
    expect(await text.json()).toMatchObject({ error: { code: "invalid_request" } });
    expect((await view(id)).desiredVersion).toBe(1);
    await vi.waitFor(() => expect(puts(calls)).toHaveLength(1));
  });

  it("checks the Rails token first", async () => {
    const { calls } = acceptingBroker();
    const res = await railsRequest(`/v1/devices/bad.id/desired`, { method: "PATCH", body: "{" }, "wrong");
    expect(res.status).toBe(401);
    expect(calls).toHaveLength(0);
  });
});

describe("the DeviceChannel hands desired state to the broker until it converges", () => {
  it("retries on its alarm while the broker is unreachable", async () => {
    let up = false;
    const { calls } = mockBroker((_request, text) => {
      if (!up) throw new TypeError("connect ECONNREFUSED");
      return Response.json({ version: (JSON.parse(text) as { version: number }).version, outcome: "stored" });
    });
    const id = freshDeviceId();
    expect((await patch(id, { a: 1 })).status).toBe(200);
    await vi.waitFor(() => expect(puts(calls)).toHaveLength(1));
    const stub = env.DEVICE_CHANNEL.getByName(id);
    const alarm = await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm());
    expect(alarm).not.toBeNull();
    up = true;
    // The alarm may run before its time in a test: the attempt is due by then.
    await vi.waitFor(
      async () => {
        await runDurableObjectAlarm(stub);
        expect(puts(calls).length).toBeGreaterThanOrEqual(2);
      },
      { timeout: 5_000, interval: 200 },
    );
    const handed = await runInDurableObject(stub, (_instance, state) =>
      state.storage.sql.exec<{ handed_version: number }>("SELECT handed_version FROM desired_state").one(),
    );
    expect(handed.handed_version).toBe(1);
  });

  it("hands it again when the device comes online and when it reports an older version (at most every 10 s)", async () => {
    const { calls } = acceptingBroker();
    const id = freshDeviceId();
    await patch(id, { ssid: "b" });
    await vi.waitFor(() => expect(puts(calls)).toHaveLength(1));
    await postEvents({
      events: [{ type: "presence", deviceId: id, ts: Date.now(), online: true, reason: "connect" }],
    });
    await vi.waitFor(() => expect(puts(calls)).toHaveLength(2));
    await postEvents({ events: [stateEvent(id, { ssid: "a" })] });
    await vi.waitFor(() => expect(puts(calls)).toHaveLength(3));
    await postEvents({ events: [stateEvent(id, { ssid: "a", uptime: 1 })] });
    // Throttled: no fourth PUT for a lagging report within 10 s.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(puts(calls)).toHaveLength(3);
    await postEvents({ events: [stateEvent(id, { ssid: "b", desiredVersion: 1, desiredError: null })] });
    expect(await view(id)).toMatchObject({ desiredVersion: 1, reportedDesiredVersion: 1, delta: {} });
  });

  it("shows a failed apply as desiredError, and does not hand that version again for it", async () => {
    const { calls } = acceptingBroker();
    const id = freshDeviceId();
    await patch(id, { band: "6GHz" });
    await vi.waitFor(() => expect(puts(calls)).toHaveLength(1));
    const error = { version: 1, code: "handler_error", message: "no 6 GHz radio" };
    await postEvents({ events: [stateEvent(id, { band: "5GHz", desiredError: error })] });
    expect(await view(id)).toMatchObject({
      desiredError: error,
      delta: { band: "6GHz" },
      reportedDesiredVersion: null,
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(puts(calls)).toHaveLength(1);
  });
});

describe("desired state over the WebSocket", () => {
  async function connect(deviceId: string, claims: Record<string, unknown> = {}) {
    const socket = await ClientSocket.open(deviceId, await clientToken({ devices: [deviceId], ...claims }));
    open.push(socket);
    await socket.waitForFrames(1);
    return socket;
  }

  it("carries it in the snapshot, sends a desired frame on change and acknowledgement, and lets only cmd sockets patch", async () => {
    acceptingBroker();
    const id = freshDeviceId();
    await patch(id, { led: "off" });
    const watcher = await connect(id);
    expect(watcher.frames[0]).toMatchObject({
      type: "snapshot",
      device: {
        desired: { led: "off" },
        desiredVersion: 1,
        delta: { led: "off" },
        reportedDesiredVersion: null,
      },
    });
    watcher.send({ type: "desired", id: "w1", patch: { led: "on" } });
    await watcher.waitForFrames(2);
    expect(watcher.frames[1]).toMatchObject({ type: "error", id: "w1", error: { code: "forbidden" } });

    const operator = await connect(id, { cmd: true });
    operator.send({ type: "desired", id: "o1", patch: { led: "on" }, ifVersion: 1 });
    await watcher.waitForFrames(3);
    expect(watcher.frames[2]).toMatchObject({
      type: "desired",
      deviceId: id,
      desiredVersion: 2,
      desired: { led: "on" },
    });
    operator.send({ type: "desired", id: "o2", patch: { led: "off" }, ifVersion: 1 });
    await operator.waitForFrames(3);
    expect(operator.frames[2]).toMatchObject({
      type: "error",
      id: "o2",
      error: { code: "version_conflict" },
    });

    await postEvents({ events: [stateEvent(id, { led: "on", desiredVersion: 2, desiredError: null })] });
    await watcher.waitForFrames(5); // the state event and the acknowledgement
    expect(watcher.frames.slice(3)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: "desired", reportedDesiredVersion: 2, delta: {} }),
      ]),
    );
  });
});
