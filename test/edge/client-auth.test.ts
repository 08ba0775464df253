import { env, SELF } from "cloudflare:test";
import { sign } from "hono/jwt";
import { afterEach, describe, expect, it } from "vitest";
import { ClientSocket, clientToken, freshDeviceId, NO_DESIRED, openSocket } from "./helpers.js";

const open: ClientSocket[] = [];
afterEach(() => {
  for (const socket of open.splice(0)) socket.close();
});

async function expectRefused(response: Response, status: number, code: string) {
  expect(response.status).toBe(status);
  expect(response.webSocket).toBeNull();
  expect(await response.json()).toEqual({ error: { code, message: expect.any(String) } });
}

describe("client socket authorisation, before the upgrade", () => {
  it("refuses a socket without a token with 401", async () => {
    await expectRefused(await openSocket(freshDeviceId(), null), 401, "unauthorized");
  });

  it("refuses a token expired for longer than the 60 s leeway with 401", async () => {
    const id = freshDeviceId();
    const token = await clientToken({ devices: [id], exp: Math.floor(Date.now() / 1000) - 61 });
    await expectRefused(await openSocket(id, token), 401, "unauthorized");
  });

  it("refuses a token signed with another secret with 401", async () => {
    const id = freshDeviceId();
    const token = await clientToken({ devices: [id] }, "not-the-edge-secret");
    await expectRefused(await openSocket(id, token), 401, "unauthorized");
  });

  it("refuses a token signed with another algorithm with 401", async () => {
    const id = freshDeviceId();
    const exp = Math.floor(Date.now() / 1000) + 60;
    const token = await sign({ sub: "u", kind: "web", devices: [id], exp }, env.CLIENT_JWT_SECRET, "HS512");
    await expectRefused(await openSocket(id, token), 401, "unauthorized");
  });

  it("refuses a token missing a claim or with an unknown kind with 401", async () => {
    const id = freshDeviceId();
    const exp = Math.floor(Date.now() / 1000) + 60;
    const noKind = await sign({ sub: "u", devices: [id], exp }, env.CLIENT_JWT_SECRET, "HS256");
    const badKind = await clientToken({ devices: [id], kind: "tv" as "web" });
    const noExp = await sign({ sub: "u", kind: "web", devices: [id] }, env.CLIENT_JWT_SECRET, "HS256");
    for (const token of [noKind, badKind, noExp, "not.a.jwt"]) {
      await expectRefused(await openSocket(id, token), 401, "unauthorized");
    }
  });

  it("refuses a device the token does not list with 403", async () => {
    const token = await clientToken({ devices: [freshDeviceId()] });
    await expectRefused(await openSocket(freshDeviceId(), token), 403, "forbidden");
  });

  it("answers 426 to a plain GET without an upgrade", async () => {
    const res = await SELF.fetch(`http://edge.test/v1/devices/${freshDeviceId()}/ws`);
    expect(res.status).toBe(426);
  });

  it("accepts the token in ?token= and sends the snapshot first", async () => {
    const id = freshDeviceId();
    const socket = await ClientSocket.open(id, await clientToken({ devices: [id] }));
    open.push(socket);
    const [snapshot] = await socket.waitForFrames(1);
    expect(snapshot).toEqual({
      type: "snapshot",
      device: { id, online: false, since: null, lastSeen: null, state: null, ...NO_DESIRED },
      recent: [],
    });
  });

  it("accepts the token as the subprotocol after `tether` and answers with `tether`", async () => {
    const id = freshDeviceId();
    const token = await clientToken({ devices: [id], kind: "mobile" });
    const response = await openSocket(id, token, { protocols: `tether, ${token}` });
    expect(response.status).toBe(101);
    expect(response.headers.get("sec-websocket-protocol")).toBe("tether");
    const ws = response.webSocket;
    if (!ws) throw new Error("no socket");
    const socket = new ClientSocket(ws);
    open.push(socket);
    expect(await socket.waitForFrames(1)).toMatchObject([{ type: "snapshot", device: { id } }]);
  });
});
