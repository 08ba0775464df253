import { env, runInDurableObject, SELF } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { ledgerFor, REPLAY_WINDOW_MS } from "../../edge/src/ledger/batch-ledger.js";
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

async function connect(deviceId: string) {
  const socket = await ClientSocket.open(deviceId, await clientToken({ devices: [deviceId] }));
  open.push(socket);
  await socket.waitForFrames(1); // the snapshot
  return socket;
}

/** Sends the exact bytes and signature of an earlier request again, as an attacker who captured it. */
function resend(raw: string, signature: string): Promise<Response> {
  return SELF.fetch(`${EDGE}/internal/events`, {
    method: "POST",
    headers: { "content-type": "application/json", [SIGNATURE_HEADER]: signature },
    body: raw,
  });
}

describe("a captured event batch cannot be replayed", () => {
  it("refuses a batchId it has accepted with 409 replayed, and broadcasts nothing twice", async () => {
    const id = freshDeviceId();
    const socket = await connect(id);
    const raw = JSON.stringify({
      batchId: crypto.randomUUID(),
      events: [
        { deviceId: id, type: "event", name: "wifi.client_joined", data: { mac: "aa" }, ts: 10 },
        { deviceId: id, type: "command_result", id: "q1", ok: true, result: "done", ts: 11 },
      ],
    });
    const signature = await signBody(env.EDGE_EVENTS_SECRET, raw, Date.now() / 1000);
    expect((await resend(raw, signature)).status).toBe(200);
    await socket.waitForFrames(3);

    const replayed = await resend(raw, signature);
    expect(replayed.status).toBe(409);
    expect(await replayed.json()).toEqual({ error: { code: "replayed", message: expect.any(String) } });
    // A fresh batch after the replay arrives right behind the first two: nothing came in between.
    const next = { deviceId: id, type: "event", name: "after", data: null, ts: 12 };
    expect((await postEvents({ events: [next] })).status).toBe(200);
    expect((await socket.waitForFrames(4))[3]).toEqual(next);
    expect(socket.frames).toHaveLength(4);
  });

  it("refuses the same batchId signed again at another time, and an empty batch replayed", async () => {
    const batchId = crypto.randomUUID();
    const body = { batchId, events: [] };
    expect((await postEvents(body)).status).toBe(200);
    expect((await postEvents(body, { skewSeconds: -30 })).status).toBe(409);
  });

  it("remembers a batchId for 600 s and then forgets it (bounded, expiring)", async () => {
    const batchId = crypto.randomUUID();
    const ledger = ledgerFor(env, batchId);
    expect(await ledger.claim(batchId)).toBe("accepted");
    const count = await runInDurableObject(ledger, async (instance, state) => {
      instance.now = () => Date.now() + REPLAY_WINDOW_MS + 1;
      const alarm = await state.storage.getAlarm();
      await instance.alarm();
      return {
        alarmSet: alarm !== null,
        left: state.storage.sql
          .exec<{ n: number }>("SELECT COUNT(*) AS n FROM seen_batch WHERE batch_id = ?", batchId)
          .one().n,
      };
    });
    expect(count).toEqual({ alarmSet: true, left: 0 });
    await runInDurableObject(ledger, (instance) => {
      instance.now = () => Date.now();
    });
    expect(await ledger.claim(batchId)).toBe("accepted");
  });
});

describe("an older state never overwrites a newer one", () => {
  it("drops a state older than the stored one (not stored, not broadcast); lastSeen never goes back", async () => {
    const id = freshDeviceId();
    const socket = await connect(id);
    const newer = { deviceId: id, type: "state", state: { fw: "2.0" }, ts: 2000 };
    const older = { deviceId: id, type: "state", state: { fw: "1.0" }, ts: 1000 };
    await postEvents({ events: [newer] });
    await postEvents({ events: [older] });
    const view = await (await railsRequest(`/v1/devices/${id}`)).json();
    expect(view).toEqual({
      id,
      online: false,
      since: null,
      lastSeen: 2000,
      state: { fw: "2.0" },
      ...NO_DESIRED,
    });

    const later = { deviceId: id, type: "state", state: { fw: "3.0" }, ts: 3000 };
    await postEvents({ events: [later] });
    expect((await socket.waitForFrames(3)).slice(1)).toEqual([newer, later]);
    const snapshot = await connect(id);
    expect(snapshot.frames[0]).toMatchObject({ device: { state: { fw: "3.0" }, lastSeen: 3000 } });
  });
});
