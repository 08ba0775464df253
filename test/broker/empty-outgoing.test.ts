/**
 * broker/src/sessions/empty-outgoing.ts (issue 14, connect rate): a CONNECT whose session has
 * nothing queued skips Aedes's `pipeline` of the empty queue; one with queued messages still
 * gets them through it.
 */

import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { afterEach, describe, expect, it } from "vitest";
import { emptyOutgoing, emptyOutgoingShortcuts } from "../../broker/src/sessions/empty-outgoing.js";
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

describe("a CONNECT with nothing queued", () => {
  it("skips Aedes's pipeline of the empty queue; a queued command still arrives through it", async () => {
    const broker = await startTestBroker();
    const id = deviceId();
    const before = emptyOutgoingShortcuts();
    const first = await connectDevice(broker, id, { clean: false });
    // Aedes's own `pipeline` import took the shortcut: the live binding was updated.
    await waitFor(() => emptyOutgoingShortcuts() === before + 1, 2_000, "the shortcut taken");
    await first.endAsync();
    await waitFor(
      async () => ((await api(broker, `/v1/devices/${id}`)).body as { online?: boolean }).online === false,
      2_000,
      "offline",
    );
    const reply = await api(broker, `/v1/devices/${id}/commands`, { body: { name: "update", queue: true } });
    expect(reply.status).toBe(202);

    const second = await connectDevice(broker, id, { clean: false, subscribeCommands: false });
    const received = answerCommands(second, id, () => undefined);
    await waitFor(() => received.length === 1, 3_000, "the queued command delivered");
    expect(received[0]).toMatchObject({ id: (reply.body as { id: string }).id, name: "update" });
    // That CONNECT had something queued: the full pipeline, no shortcut.
    expect(emptyOutgoingShortcuts()).toBe(before + 1);
  });

  it("is a real empty stream wherever pipeline is not the wrapped one", async () => {
    const chunks: unknown[] = [];
    const sink = new Writable({
      objectMode: true,
      write(chunk, _encoding, callback) {
        chunks.push(chunk);
        callback();
      },
    });
    await pipeline(emptyOutgoing(), sink);
    expect(chunks).toEqual([]);
  });
});
