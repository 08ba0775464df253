import { describe, expect, it } from "vitest";
import { presentedToken } from "../../edge/src/auth/client-token.js";
import { broadcast } from "../../edge/src/channel/broadcast.js";
import { type SocketSession, takeToken } from "../../edge/src/channel/socket-session.js";

function pair(): { server: WebSocket; received: string[] } {
  const { 0: client, 1: server } = new WebSocketPair();
  const received: string[] = [];
  client.accept();
  client.addEventListener("message", (event) => received.push(String(event.data)));
  server.accept();
  return { server, received };
}

describe("broadcast", () => {
  it("closes a socket that cannot take a frame and still delivers to the others", async () => {
    const first = pair();
    const broken = pair();
    const last = pair();
    broken.server.close(1000, "gone"); // send() after close() throws
    const delivered = broadcast([first.server, broken.server, last.server], {
      type: "error",
      error: { code: "x", message: "y" },
    });
    expect(delivered).toBe(2);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(first.received).toHaveLength(1);
    expect(last.received).toHaveLength(1);
    expect(broken.received).toHaveLength(0);
  });
});

describe("the per-socket token bucket", () => {
  const limit = { ratePerSecond: 5, burst: 3 };
  const fresh: SocketSession = {
    connectionId: "c",
    kind: "web",
    user: "u",
    connectedAt: 0,
    deadline: 60_000,
    mayCommand: false,
    tokens: 3,
    refilledAt: 0,
  };

  it("allows a burst, refuses the next frame, and refills with time", () => {
    let session = fresh;
    const allowed: boolean[] = [];
    for (let i = 0; i < 4; i++) {
      const taken = takeToken(session, 0, limit);
      allowed.push(taken.allowed);
      session = taken.session;
    }
    expect(allowed).toEqual([true, true, true, false]);
    expect(takeToken(session, 100, limit).allowed).toBe(false); // 0.5 token
    expect(takeToken(session, 200, limit).allowed).toBe(true); // 1 token
    expect(takeToken(session, 60_000, limit).session.tokens).toBe(2); // capped at burst, minus one
  });
});

describe("where a client's token is found", () => {
  const url = (query = "") => new URL(`https://edge/v1/devices/d/ws${query}`);

  it("reads ?token= and notes whether `tether` was offered", () => {
    expect(presentedToken(url("?token=abc"), undefined)).toEqual({ token: "abc", offeredSubprotocol: false });
    expect(presentedToken(url("?token=abc"), "tether")).toEqual({ token: "abc", offeredSubprotocol: true });
  });

  it("reads the value after `tether` in Sec-WebSocket-Protocol, and nothing else", () => {
    expect(presentedToken(url(), "tether, a.b.c")).toEqual({ token: "a.b.c", offeredSubprotocol: true });
    expect(presentedToken(url(), "other, a.b.c")).toBeNull();
    expect(presentedToken(url(), "tether")).toBeNull();
    expect(presentedToken(url(), undefined)).toBeNull();
  });
});
