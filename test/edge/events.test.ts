import { env, SELF } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { SIGNATURE_HEADER, signBody } from "../../protocol/src/index.js";
import {
  ClientSocket,
  clientToken,
  EDGE,
  freshDeviceId,
  NO_DESIRED,
  postEvents,
  railsRequest,
} from "./helpers.js";

const open: ClientSocket[] = [];
afterEach(() => {
  for (const socket of open.splice(0)) socket.close();
});

async function connect(deviceId: string, kind: "mobile" | "web", sub = "user-1") {
  const socket = await ClientSocket.open(deviceId, await clientToken({ devices: [deviceId], kind, sub }));
  open.push(socket);
  await socket.waitForFrames(1); // the snapshot
  return socket;
}

/**
 * `postEvents` with the signature's clock `skewSeconds` off, sent again while the answer took
 * 1 s or more: workerd's clock only moves on I/O, so the test's clock may lag the edge's by
 * as long as this worker was held up (a loaded machine held it up for over a second), and a
 * signature 301 s ahead would then be checked 300 s or less from the edge's clock. Within
 * 1 s, the edge saw exactly the skew asked for, give or take less than the 1 s of margin.
 */
async function postUndisturbed(body: unknown, skewSeconds: number): Promise<Response> {
  /** Bound: attempts at a measurement not held up for a second. */
  const ATTEMPTS = 5;
  for (let attempt = 1; ; attempt++) {
    const sentAt = Date.now();
    const res = await postEvents(body, { skewSeconds });
    if (Date.now() - sentAt < 1_000) return res;
    await res.body?.cancel();
    if (attempt === ATTEMPTS) throw new Error(`each of ${ATTEMPTS} posts took 1 s or more to answer`);
  }
}

describe("broker → edge events", () => {
  it("fans one event out to every socket of the device, mobile and web, and to no other device", async () => {
    const id = freshDeviceId();
    const other = freshDeviceId();
    const sockets = [
      await connect(id, "mobile", "alice"),
      await connect(id, "mobile", "bob"),
      await connect(id, "web", "support"),
      await connect(id, "web", "support"),
    ];
    const bystander = await connect(other, "web");
    const event = { deviceId: id, type: "event", name: "wifi.client_joined", data: { mac: "aa:bb" }, ts: 10 };

    const res = await postEvents({ events: [event] });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, events: 1, devices: 1 });
    for (const socket of sockets) expect((await socket.waitForFrames(2))[1]).toEqual(event);

    // The bystander sees its own device's next event and nothing before it.
    const own = { deviceId: other, type: "state", state: { led: "on" }, ts: 11 };
    await postEvents({ events: [own] });
    expect(await bystander.waitForFrames(2)).toEqual([expect.objectContaining({ type: "snapshot" }), own]);
  });

  it("delivers a mixed batch to each device in order, one channel call per device", async () => {
    const a = freshDeviceId();
    const b = freshDeviceId();
    const socketA = await connect(a, "web");
    const socketB = await connect(b, "mobile");
    const events = [
      { deviceId: a, type: "presence", online: true, reason: "connect", ts: 100 },
      { deviceId: b, type: "state", state: { n: 1 }, ts: 101 },
      { deviceId: a, type: "state", state: { n: 2 }, ts: 102 },
      { deviceId: a, type: "command_result", id: "q1", ok: true, result: "done", ts: 103 },
    ];
    const res = await postEvents({ events });
    expect(await res.json()).toEqual({ ok: true, events: 4, devices: 2 });
    expect((await socketA.waitForFrames(4)).slice(1)).toEqual([events[0], events[2], events[3]]);
    expect((await socketB.waitForFrames(2)).slice(1)).toEqual([events[1]]);
  });

  it("keeps presence and state in the view, and a stale presence does not flip it", async () => {
    const id = freshDeviceId();
    await postEvents({
      events: [{ deviceId: id, type: "presence", online: true, reason: "connect", ts: 500 }],
    });
    await postEvents({
      events: [{ deviceId: id, type: "presence", online: false, reason: "keepalive_timeout", ts: 400 }],
    });
    const view = await (await railsRequest(`/v1/devices/${id}`)).json();
    expect(view).toEqual({ id, online: true, since: 500, lastSeen: 500, state: null, ...NO_DESIRED });
  });

  it("refuses a batch signed with another secret with 401 and delivers nothing", async () => {
    const id = freshDeviceId();
    const socket = await connect(id, "web");
    const res = await postEvents(
      { events: [{ deviceId: id, type: "state", state: { forged: true }, ts: 1 }] },
      { secret: "not-the-secret" },
    );
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: { code: "unauthorized", message: expect.any(String) } });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(socket.frames).toHaveLength(1);
    const view = await (await railsRequest(`/v1/devices/${id}`)).json();
    expect(view).toMatchObject({ state: null });
  });

  it("refuses a signature more than 300 s away from the edge's clock, either way", async () => {
    const body = { events: [{ deviceId: freshDeviceId(), type: "state", state: {}, ts: 1 }] };
    // The signature carries whole seconds (floored): 301 s ahead of a clock at x.99 s is
    // signed 300.01 s ahead, within 300 s once the edge's clock has moved on by 0.01 s (seen
    // once in a full run). 302 s ahead stays more than 301 s ahead after the floor, more
    // than 300 s at the edge for any answer within postUndisturbed's 1 s. 301 s behind only
    // grows with both the floor and the edge's later clock.
    for (const skewSeconds of [-301, 302]) {
      const res = await postUndisturbed(body, skewSeconds);
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({
        error: { code: "unauthorized", message: expect.stringMatching(/stale/) },
      });
    }
    expect((await postEvents(body, { skewSeconds: -290 })).status).toBe(200);
  });

  it("refuses a missing signature and a body changed after signing", async () => {
    const raw = JSON.stringify({ events: [] });
    const unsigned = await SELF.fetch(`${EDGE}/internal/events`, { method: "POST", body: raw });
    expect(unsigned.status).toBe(401);

    const signed = await postEvents({ events: [] });
    expect(signed.status).toBe(200);
    const header = await signBody(env.EDGE_EVENTS_SECRET, raw, Date.now() / 1000);
    const tampered = await SELF.fetch(`${EDGE}/internal/events`, {
      method: "POST",
      headers: { [SIGNATURE_HEADER]: header },
      body: raw.replace("[]", '[{"deviceId":"x","type":"state","state":{},"ts":1}]'),
    });
    expect(tampered.status).toBe(401);
  });

  it("refuses a signed but malformed batch with 400 invalid_request", async () => {
    const res = await postEvents({ events: [{ deviceId: "bad id", type: "state", state: {}, ts: 1 }] });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: "invalid_request" } });
  });
});
