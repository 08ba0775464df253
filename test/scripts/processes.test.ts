import { createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { httpProbe } from "../../scripts/lib/processes.js";

/** Bound: the one server a test opens and the sockets it accepted; closed after it. */
let server: Server | undefined;
const sockets = new Set<Socket>();
afterEach(async () => {
  for (const socket of sockets) socket.destroy();
  sockets.clear();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  server = undefined;
});

describe("a readiness probe", () => {
  it("gives up in its time on a server that accepts the connection and never answers", async () => {
    server = createServer((socket) => {
      sockets.add(socket); // read, never answer
      socket.on("error", () => {});
    });
    await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    const port = typeof address === "object" && address ? address.port : 0;
    const startedAt = Date.now();
    await expect(httpProbe(`http://127.0.0.1:${port}/healthz`, {}, () => true, 200)()).rejects.toThrow(
      /no answer from .* in 200 ms/,
    );
    expect(Date.now() - startedAt).toBeLessThan(2_000);
  });
});
