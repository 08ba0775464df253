import net from "node:net";
import { Aedes } from "aedes";

/** A plain in-process Aedes on an ephemeral port: a broker with no Tether policy. */
export interface PlainBroker {
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startPlainBroker(port = 0): Promise<PlainBroker> {
  const aedes = await Aedes.createBroker();
  const server = net.createServer(aedes.handle);
  const sockets = new Set<net.Socket>();
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("broker has no port");
  return {
    url: `mqtt://127.0.0.1:${address.port}`,
    port: address.port,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
    },
  };
}
