import net from "node:net";

/**
 * A TCP proxy between a device and a broker, so tests can cause outages and lose
 * packets on purpose without touching either side.
 */
export interface TcpProxy {
  url: string;
  port: number;
  /** Destroys every live connection and refuses new ones until `up()`. */
  down(): void;
  up(): void;
  /** Stops forwarding device → broker bytes (they are dropped), e.g. to lose a PUBACK. */
  dropUpstream(): void;
  /** Number of connections accepted so far. */
  readonly accepted: number;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, host = "127.0.0.1"): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let isDown = false;
  let dropping = false;
  let accepted = 0;
  const server = net.createServer((client) => {
    if (isDown) {
      client.destroy();
      return;
    }
    accepted++;
    dropping = false;
    const upstream = net.connect(targetPort, host);
    sockets.add(client);
    sockets.add(upstream);
    const cleanup = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("data", (chunk) => {
      if (!dropping) upstream.write(chunk);
    });
    upstream.on("data", (chunk) => client.write(chunk));
    client.on("close", cleanup);
    upstream.on("close", cleanup);
    client.on("error", cleanup);
    upstream.on("error", cleanup);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("proxy has no port");
  const destroyAll = () => {
    for (const socket of sockets) socket.destroy();
    sockets.clear();
  };
  return {
    url: `mqtt://${host}:${address.port}`,
    port: address.port,
    get accepted() {
      return accepted;
    },
    down() {
      isDown = true;
      destroyAll();
    },
    up() {
      isDown = false;
    },
    dropUpstream() {
      dropping = true;
    },
    close() {
      destroyAll();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
