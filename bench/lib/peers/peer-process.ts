/**
 * One Node broker for bench/run.ts in its own process (started with --expose-gc):
 * `--kind tether` (startBroker, with its HTTP API and an event forwarder to
 * `--events-url`) or `--kind aedes` (bare Aedes 1.2 on a net server). Answers
 * `measure` and `close` over IPC.
 */
import { createServer } from "node:net";
import { parseArgs } from "node:util";
import { Aedes } from "aedes";
import pino from "pino";
import { startBroker } from "../../../broker/src/index.js";
import { BENCH_API_TOKEN, BENCH_DEVICE_SECRET } from "../ipc.js";
import { isPeerRequest, type PeerReply } from "./ipc.js";

const { values } = parseArgs({
  options: {
    kind: { type: "string" },
    "events-url": { type: "string" },
    "events-secret": { type: "string" },
    /** JSON object of startBroker options to override (the overload leg: admission settings). */
    settings: { type: "string" },
  },
});

function overrides(): Record<string, number> {
  const parsed: unknown = JSON.parse(values.settings ?? "{}");
  if (typeof parsed !== "object" || parsed === null) throw new Error("--settings must be a JSON object");
  return Object.fromEntries(
    Object.entries(parsed).filter((e): e is [string, number] => typeof e[1] === "number"),
  );
}

const gc = globalThis.gc;
if (!gc) throw new Error("peer-process needs node --expose-gc");

interface Running {
  mqttPort: number;
  httpPort: number | null;
  counts(): Promise<Record<string, number>>;
  close(): Promise<void>;
}

const send = (reply: PeerReply) => process.send?.(reply);

async function bareAedes(): Promise<Running> {
  const aedes = await Aedes.createBroker();
  // Nagle off, as Tether's server does, so round trips compare brokers rather than TCP delayed ACKs.
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    aedes.handle(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const address = server.address();
  return {
    mqttPort: typeof address === "object" && address ? address.port : 0,
    httpPort: null,
    counts: async () => ({ clients: aedes.connectedClients }),
    close: async () => {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function tether(): Promise<Running> {
  const eventsUrl = values["events-url"];
  const eventsSecret = values["events-secret"];
  const broker = await startBroker({
    deviceSecret: BENCH_DEVICE_SECRET,
    brokerApiToken: BENCH_API_TOKEN,
    mqttPort: 0,
    httpPort: 0,
    host: "127.0.0.1",
    logger: pino({ level: "error" }),
    memoryLogIntervalSeconds: 0,
    // The bench opens thousands of routers from 127.0.0.1 and measures raw throughput:
    // the per-address admission limit and the per-device publish rate limit are lifted.
    maxUnauthenticatedPerAddress: 1_000_000,
    devicePublishRate: 1_000_000,
    devicePublishBurst: 1_000_000,
    ...(eventsUrl && eventsSecret ? { edgeEventsUrl: eventsUrl, edgeEventsSecret: eventsSecret } : {}),
    ...overrides(),
  });
  return {
    mqttPort: broker.mqttPort,
    httpPort: broker.httpPort,
    counts: async () => ({ ...(await broker.stats()) }),
    close: () => broker.close(),
  };
}

async function main(): Promise<void> {
  const running = values.kind === "tether" ? await tether() : await bareAedes();
  process.on("message", (message: unknown) => {
    if (!isPeerRequest(message)) return;
    const { id } = message;
    const work =
      message.op === "measure"
        ? (async () => {
            for (let i = 0; i < 3; i++) {
              gc?.();
              await new Promise((resolve) => setImmediate(resolve));
            }
            const { heapUsed } = process.memoryUsage();
            send({ type: "measured", id, heapUsed, counts: await running.counts() });
          })()
        : running.close().then(() => {
            send({ type: "closed", id });
            process.disconnect();
          });
    work.catch((error: unknown) => send({ type: "failed", id, message: String(error) }));
  });
  send({ type: "ready", mqttPort: running.mqttPort, httpPort: running.httpPort });
}

main().catch((error: unknown) => {
  send({ type: "failed", message: String(error) });
  process.exit(1);
});
