/**
 * Runs one broker for bench/broker.ts in its own process, so the RSS measured is
 * that broker's alone: `--kind aedes` (bare Aedes on a plain net server) or
 * `--kind tether` (startBroker). Needs `--expose-gc`. Answers measure/close
 * requests over the IPC channel.
 */
import { createServer } from "node:net";
import { parseArgs } from "node:util";
import { writeHeapSnapshot } from "node:v8";
import { Aedes } from "aedes";
import { startBroker } from "../../broker/src/index.js";
import { BENCH_API_TOKEN, BENCH_DEVICE_SECRET, isRequest, type Measurement, type Reply } from "./ipc.js";

interface Running {
  mqttPort: number;
  counts(): Promise<Record<string, number>>;
  close(): Promise<void>;
}

const { values } = parseArgs({
  options: {
    kind: { type: "string" },
    "session-expiry-seconds": { type: "string", default: "86400" },
    "reaper-interval-ms": { type: "string", default: "60000" },
  },
});

const gc = globalThis.gc;
if (!gc) throw new Error("broker-process needs node --expose-gc");

function send(reply: Reply): void {
  process.send?.(reply);
}

async function startBareAedes(): Promise<Running> {
  const aedes = await Aedes.createBroker();
  const server = createServer((socket) => aedes.handle(socket));
  const mqttPort = await new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      resolve(typeof address === "object" && address ? address.port : 0);
    });
  });
  return {
    mqttPort,
    counts: async () => ({ clients: aedes.connectedClients }),
    close: async () => {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function startTether(): Promise<Running> {
  const broker = await startBroker({
    deviceSecret: BENCH_DEVICE_SECRET,
    brokerApiToken: BENCH_API_TOKEN,
    mqttPort: 0,
    httpPort: 0,
    host: "127.0.0.1",
    logLevel: "error",
    memoryLogIntervalSeconds: 0,
    // The bench opens thousands of routers from 127.0.0.1 and measures raw throughput:
    // the per-address admission limit and the per-device publish rate limit are lifted.
    maxUnauthenticatedPerAddress: 1_000_000,
    devicePublishRate: 1_000_000,
    devicePublishBurst: 1_000_000,
    sessionExpirySeconds: Number(values["session-expiry-seconds"]),
    reaperIntervalMs: Number(values["reaper-interval-ms"]),
    reaperBatchSize: 5_000,
  });
  return {
    mqttPort: broker.mqttPort,
    counts: async () => ({ ...(await broker.stats()) }),
    close: () => broker.close(),
  };
}

/** Full GC a few times with turns of the event loop between, so finalizers and weak callbacks run. */
async function collectGarbage(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    gc?.();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

async function measure(running: Running): Promise<Measurement> {
  await collectGarbage();
  const usage = process.memoryUsage();
  return {
    rssBytes: usage.rss,
    heapUsedBytes: usage.heapUsed,
    externalBytes: usage.external,
    arrayBuffersBytes: usage.arrayBuffers,
    counts: await running.counts(),
  };
}

async function main(): Promise<void> {
  const running = values.kind === "tether" ? await startTether() : await startBareAedes();
  process.on("message", (message: unknown) => {
    if (!isRequest(message)) {
      send({ type: "failed", message: "unknown request" });
      return;
    }
    const { id } = message;
    let work: Promise<void>;
    switch (message.op) {
      case "measure":
        work = measure(running).then((measurement) => send({ type: "measured", id, measurement }));
        break;
      case "snapshot": {
        const { path } = message;
        work = collectGarbage().then(() => send({ type: "snapshot", id, path: writeHeapSnapshot(path) }));
        break;
      }
      case "close":
        work = running.close().then(() => {
          send({ type: "closed", id });
          process.disconnect();
        });
        break;
    }
    work.catch((error: unknown) => send({ type: "failed", id, message: String(error) }));
  });
  send({ type: "ready", mqttPort: running.mqttPort });
}

main().catch((error: unknown) => {
  send({ type: "failed", message: String(error) });
  process.exit(1);
});
