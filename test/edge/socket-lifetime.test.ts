import { env, evictDurableObject, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { ClientSocket, clientToken, freshDeviceId, openSocket, railsRequest } from "./helpers.js";

const open: ClientSocket[] = [];
afterEach(() => {
  for (const socket of open.splice(0)) socket.close();
});

const nowSeconds = () => Math.floor(Date.now() / 1000);
/** An `exp` whose socket deadline (exp + the 60 s leeway) is 1–2 s away. */
const expInTwoSeconds = () => nowSeconds() - 58;

async function connect(deviceId: string, claims: Record<string, unknown> = {}) {
  const socket = await ClientSocket.open(deviceId, await clientToken({ devices: [deviceId], ...claims }));
  open.push(socket);
  await socket.waitForFrames(1); // the snapshot
  return socket;
}

const disconnect = (sub: string, devices: unknown) =>
  railsRequest(`/v1/users/${encodeURIComponent(sub)}/disconnect`, {
    method: "POST",
    body: JSON.stringify({ devices }),
  });

describe("a socket lives no longer than its token", () => {
  it("is closed with 4401 token_expired, after an error frame, at exp + 60 s even while the object hibernates", async () => {
    const id = freshDeviceId();
    const exp = expInTwoSeconds();
    const socket = await connect(id, { exp });
    const stub = env.DEVICE_CHANNEL.getByName(id);
    const alarm = await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm());
    expect(alarm).toBe((exp + 60) * 1000);
    await evictDurableObject(stub); // the socket hibernates; only the alarm can wake the object

    expect(await socket.waitForClose(5000)).toEqual({ code: 4401, reason: "token_expired" });
    expect(socket.frames.at(-1)).toEqual({
      type: "error",
      error: { code: "token_expired", message: expect.any(String) },
    });
  });

  it("is kept open by an `auth` frame with a fresh token for the same user, while the others close at their own deadline", async () => {
    const id = freshDeviceId();
    const renewed = await connect(id, { sub: "alice", exp: expInTwoSeconds() });
    const control = await connect(id, { sub: "bob", exp: expInTwoSeconds() });
    const exp = nowSeconds() + 600;
    renewed.send({ type: "auth", token: await clientToken({ sub: "alice", devices: [id], exp, cmd: true }) });
    expect((await renewed.waitForFrames(2))[1]).toEqual({ type: "auth", ok: true, exp, mayCommand: true });

    // The one alarm closed the socket that was not renewed, and now waits for the renewed one.
    expect((await control.waitForClose(5000)).code).toBe(4401);
    expect(renewed.closed).toBeNull();
    const alarm = await runInDurableObject(env.DEVICE_CHANNEL.getByName(id), (_i, state) =>
      state.storage.getAlarm(),
    );
    expect(alarm).toBe((exp + 60) * 1000);
    renewed.send("ping");
    expect((await renewed.waitForFrames(3))[2]).toBe("pong");
  });

  it("refuses an `auth` frame for another user, another device or with a bad token, and keeps the old deadline", async () => {
    const id = freshDeviceId();
    const socket = await connect(id, { sub: "alice" });
    const exp = nowSeconds() + 600;
    const attempts = [
      [await clientToken({ sub: "mallory", devices: [id], exp }), "forbidden"],
      [await clientToken({ sub: "alice", devices: [freshDeviceId()], exp }), "forbidden"],
      [await clientToken({ sub: "alice", devices: [id], exp }, "another-secret"), "unauthorized"],
      [await clientToken({ sub: "alice", devices: [id], exp: nowSeconds() - 120 }), "unauthorized"],
    ] as const;
    for (const [token] of attempts) socket.send({ type: "auth", token });
    const answers = (await socket.waitForFrames(1 + attempts.length)).slice(1);
    expect(answers).toEqual(
      attempts.map(([, code]) => ({ type: "error", error: { code, message: expect.any(String) } })),
    );
    expect(socket.closed).toBeNull();
  });
});

describe("Rails cuts a user off: POST /v1/users/{sub}/disconnect", () => {
  it("closes exactly that user's sockets on the named devices with 4403, after an error frame", async () => {
    const [a, b, untouched] = [freshDeviceId(), freshDeviceId(), freshDeviceId()];
    const token = await clientToken({ sub: "alice", devices: [a, b, untouched] });
    const alice = await Promise.all([a, a, b, untouched].map((id) => ClientSocket.open(id, token)));
    open.push(...alice);
    const bob = await connect(a, { sub: "bob" });
    for (const socket of alice) await socket.waitForFrames(1);

    const res = await disconnect("alice", [a, b]);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, devices: 2, closed: 3 });
    for (const socket of alice.slice(0, 3)) {
      expect(await socket.waitForClose()).toEqual({ code: 4403, reason: "forbidden" });
      expect(socket.frames.at(-1)).toMatchObject({ type: "error", error: { code: "forbidden" } });
    }
    expect(alice[3]?.closed).toBeNull();
    expect(bob.closed).toBeNull();
  });

  it("refuses the tokens the user already holds on that device, but not one issued after the cut-off", async () => {
    const id = freshDeviceId();
    const before = nowSeconds() - 5;
    const oldToken = await clientToken({ sub: "alice", devices: [id], iat: before });
    const noIat = await clientToken({ sub: "alice", devices: [id] });
    expect((await disconnect("alice", [id])).status).toBe(200);

    for (const token of [oldToken, noIat]) {
      const refused = await openSocket(id, token);
      expect(refused.status).toBe(403);
      expect(await refused.json()).toEqual({ error: { code: "forbidden", message: expect.any(String) } });
    }
    const reissued = await clientToken({ sub: "alice", devices: [id], iat: nowSeconds() + 1 });
    open.push(await ClientSocket.open(id, reissued));
    open.push(await connect(id, { sub: "bob" }));
  });

  it("checks the Rails token before the body, and refuses a malformed body with 400", async () => {
    const id = freshDeviceId();
    const socket = await connect(id, { sub: "alice" });
    const noToken = await railsRequest("/v1/users/alice/disconnect", { method: "POST", body: "{" }, "wrong");
    expect(noToken.status).toBe(401);
    for (const devices of [[], ["bad id"], "x", Array.from({ length: 1001 }, (_, i) => `d${i}`)]) {
      const res = await disconnect("alice", devices);
      expect(res.status, JSON.stringify(devices).slice(0, 40)).toBe(400);
      expect(await res.json()).toMatchObject({ error: { code: "invalid_request" } });
    }
    expect(socket.closed).toBeNull();
  });
});
