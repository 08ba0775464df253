/**
 * broker/src/mqtt/registration.ts on a real Aedes 1.2 over TCP: a socket that closes while
 * Aedes loads its session (here `subscriptionsByClient` is held until the socket is gone —
 * a slow Redis, which the test cannot time to the millisecond otherwise) must neither
 * unregister the live connection of the same id nor be registered itself.
 */
import { once } from "node:events";
import { connect, createServer, type Server, type Socket } from "node:net";
import { Aedes, type Client } from "aedes";
import mqtt from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import { guardRegistration } from "../../broker/src/mqtt/registration.js";
import { connectPacket, waitFor } from "./helpers.js";

const opened: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const close of opened.splice(0).reverse()) await close();
});

interface Held {
  /** Resolves when Aedes asks for the held client's subscriptions. */
  asked: Promise<void>;
  release(): void;
}

async function start(guarded: boolean) {
  const aedes = await Aedes.createBroker();
  if (guarded) expect(guardRegistration(aedes)).toBe(true);
  const persistence = Reflect.get(aedes, "persistence") as {
    subscriptionsByClient(client: { id: string }): Promise<unknown>;
  };
  const load = persistence.subscriptionsByClient.bind(persistence);
  let held: { resolveAsked: () => void; gate: Promise<void> } | null = null;
  persistence.subscriptionsByClient = async (client) => {
    const hold = held;
    held = null;
    if (hold) {
      hold.resolveAsked();
      await hold.gate;
    }
    return load(client);
  };
  const server: Server = createServer((socket) => aedes.handle(socket));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  opened.push(
    () => new Promise<void>((resolve) => aedes.close(() => resolve())),
    () => new Promise<void>((resolve) => server.close(() => resolve())),
  );
  return {
    aedes,
    port,
    clients: () => Reflect.get(aedes, "clients") as Record<string, Client | undefined>,
    /** The next session load waits until release(). */
    holdNextLoad(): Held {
      let resolveAsked = () => {};
      let release = () => {};
      const asked = new Promise<void>((resolve) => {
        resolveAsked = resolve;
      });
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      held = { resolveAsked, gate };
      return { asked, release };
    },
  };
}

async function scenario(guarded: boolean) {
  const broker = await start(guarded);
  const id = `router-${Math.random().toString(36).slice(2, 10)}`;
  const live = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, {
    clientId: id,
    clean: false,
    reconnectPeriod: 0,
    protocolVersion: 4,
  });
  opened.push(() => live.endAsync(true));
  const liveClient = broker.clients()[id];
  expect(liveClient).toBeDefined();

  const held = broker.holdNextLoad();
  const stale: Socket = await new Promise((resolve, reject) => {
    const socket = createServerSocket(broker.port, resolve, reject);
    opened.push(() => void socket.destroy());
  });
  stale.write(connectPacket({ clientId: id, username: id, password: "x", keepalive: 60, clean: false }));
  await held.asked;
  stale.destroy();
  // Aedes handles the close (the stale client's close(), its unregister) before the load ends.
  await new Promise((resolve) => setTimeout(resolve, 100));
  held.release();
  await new Promise((resolve) => setTimeout(resolve, 100));
  return { broker, id, live, liveClient };
}

function createServerSocket(port: number, resolve: (s: Socket) => void, reject: (e: Error) => void): Socket {
  const socket = connect(port, "127.0.0.1", () => resolve(socket));
  socket.once("error", reject);
  socket.resume();
  return socket;
}

describe("a socket that closes while Aedes loads its session", () => {
  it("leaves the live connection of the same id registered, and is not registered itself", async () => {
    const { broker, id, live, liveClient } = await scenario(true);
    expect(broker.clients()[id]).toBe(liveClient);
    expect(liveClient?.closed).toBe(false);
    expect(broker.aedes.connectedClients).toBe(1);
    expect(live.connected).toBe(true);
    // A later connection still takes the live one over, as MQTT says [MQTT-3.1.4-2].
    const taken = new Promise<void>((resolve) => live.once("close", () => resolve()));
    const next = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, {
      clientId: id,
      clean: false,
      reconnectPeriod: 0,
      protocolVersion: 4,
    });
    opened.push(() => next.endAsync(true));
    await taken;
    await waitFor(() => broker.clients()[id] !== liveClient, 2_000, "the newer client registered");
    expect(broker.clients()[id]?.closed).toBe(false);
    expect(broker.aedes.connectedClients).toBe(1);
  });

  it("without the guard Aedes 1.2 loses the live connection from its table (why the guard exists)", async () => {
    const { broker, id, liveClient } = await scenario(false);
    const registered = broker.clients()[id];
    expect(registered === liveClient && registered?.closed === false).toBe(false);
  });

  it("changes nothing on an object of another shape", () => {
    expect(guardRegistration({} as unknown as Aedes)).toBe(false);
  });
});
