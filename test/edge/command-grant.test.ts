import { afterEach, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { ClientSocket, clientToken, freshDeviceId, mockBroker } from "./helpers.js";

const open: ClientSocket[] = [];
afterEach(() => {
  vi.restoreAllMocks();
  for (const socket of open.splice(0)) socket.close();
});

async function connect(deviceId: string, claims: Record<string, unknown> = {}) {
  const socket = await ClientSocket.open(deviceId, await clientToken({ devices: [deviceId], ...claims }));
  open.push(socket);
  await socket.waitForFrames(1); // the snapshot
  return socket;
}

const ResultFrame = z.object({
  type: z.literal("command_result"),
  id: z.string(),
  ok: z.boolean(),
  error: z.object({ code: z.string() }).optional(),
});

/** The `command_result` frames a socket has received, by id. */
function results(socket: ClientSocket): Map<string, z.infer<typeof ResultFrame>> {
  const found = new Map<string, z.infer<typeof ResultFrame>>();
  for (const frame of socket.frames) {
    const result = ResultFrame.safeParse(frame);
    if (result.success) found.set(result.data.id, result.data);
  }
  return found;
}

describe("watching is not commanding", () => {
  it("answers a command from a token without `cmd` with command_result forbidden, and never calls the broker", async () => {
    const id = freshDeviceId();
    const { calls } = mockBroker(() => Response.json({ id: "b", ok: true, result: null }));
    const watcher = await connect(id);
    const otherDevice = await connect(id, { cmd: [freshDeviceId()] });
    watcher.send({ type: "command", id: "w1", name: "reboot" });
    otherDevice.send({ type: "command", id: "w2", name: "reboot" });
    for (const [socket, commandId] of [
      [watcher, "w1"],
      [otherDevice, "w2"],
    ] as const) {
      expect((await socket.waitForFrames(2))[1]).toEqual({
        type: "command_result",
        id: commandId,
        deviceId: id,
        ts: expect.any(Number),
        ok: false,
        error: { code: "forbidden", message: expect.any(String) },
      });
    }
    expect(calls).toHaveLength(0);
  });

  it("relays a command when `cmd` is true or lists the device", async () => {
    const id = freshDeviceId();
    const { calls } = mockBroker(() => Response.json({ id: "b", ok: true, result: "done" }));
    for (const cmd of [true, [id]]) {
      const socket = await connect(id, { cmd });
      socket.send({ type: "command", id: "c1", name: "ping" });
      expect((await socket.waitForFrames(2))[1]).toMatchObject({ id: "c1", ok: true, result: "done" });
    }
    expect(calls).toHaveLength(2);
  });
});

describe("one user cannot crowd out the others", () => {
  it("refuses the sixth socket of one user on a device while another user still connects", async () => {
    const id = freshDeviceId();
    for (let i = 0; i < 5; i++) await connect(id, { sub: "alice" });
    const sixth = await ClientSocket.open(id, await clientToken({ sub: "alice", devices: [id] }));
    open.push(sixth);
    expect((await sixth.waitForFrames(1))[0]).toEqual({
      type: "error",
      error: { code: "too_many_sockets", message: expect.stringMatching(/per user/) },
    });
    expect((await sixth.waitForClose()).code).toBe(1013);
    const bob = await connect(id, { sub: "bob" });
    expect(bob.closed).toBeNull();
  });

  it("lets WebSocket commands hold at most 8 of the broker's 16 slots per device, and one user at most 4", async () => {
    const id = freshDeviceId();
    // The broker holds every command until the test opens the gate. A promise made here
    // cannot be settled from the test's context (workerd's I/O isolation), so the mock,
    // running in the object's context, polls a plain flag on its own timer.
    const gate = { open: false };
    const { calls } = mockBroker(async () => {
      while (!gate.open) await new Promise((resolve) => setTimeout(resolve, 10));
      return Response.json({ id: "b", ok: true, result: "late" });
    });
    const users = await Promise.all(["u1", "u2", "u3"].map((sub) => connect(id, { sub, cmd: true })));
    const [u1, u2, u3] = users as [ClientSocket, ClientSocket, ClientSocket];
    for (let i = 0; i < 5; i++) u1.send({ type: "command", id: `u1-${i}`, name: "ping" });
    await vi.waitFor(() => expect(results(u1).get("u1-4")?.error?.code).toBe("rate_limited"));
    for (let i = 0; i < 4; i++) u2.send({ type: "command", id: `u2-${i}`, name: "ping" });
    await vi.waitFor(() => expect(calls).toHaveLength(8));
    u3.send({ type: "command", id: "u3-0", name: "ping" });
    await vi.waitFor(() => expect(results(u3).get("u3-0")?.error?.code).toBe("rate_limited"));
    expect(calls).toHaveLength(8);

    // A slot comes back when a result does.
    gate.open = true;
    await vi.waitFor(() => expect(results(u2).size).toBe(4));
    u3.send({ type: "command", id: "u3-1", name: "ping" });
    await vi.waitFor(() => expect(results(u3).get("u3-1")?.ok).toBe(true));
    expect(calls).toHaveLength(9);
  });
});
