import { Hono } from "hono";
import { type CountsSource, type MemoryUsageSource, pickCounts, processMemory } from "./counts.js";

/** The JSON body of `GET /debug/memory`. */
export interface DebugMemoryBody {
  /** Epoch ms of the reading. */
  ts: number;
  uptimeSeconds: number;
  pid: number;
  /** process.memoryUsage(), bytes. */
  memory: ReturnType<MemoryUsageSource>;
  counts: ReturnType<typeof pickCounts>;
}

/**
 * A Hono sub-app answering `GET /debug/memory` with the process's memory and the
 * live counts as JSON. It applies no auth: mount it behind the broker token.
 *
 * @example
 *   app.use("/debug/*", bearerAuth(token));
 *   app.route("/", debugMemoryRoute(() => broker.stats()));
 *   // GET /debug/memory → {"ts":…,"memory":{"rss":…,"heapUsed":…},"counts":{"clients":200,…}}
 */
export function debugMemoryRoute(counts: CountsSource, memoryUsage: MemoryUsageSource = processMemory): Hono {
  const app = new Hono();
  app.get("/debug/memory", async function debugMemory(c) {
    const body: DebugMemoryBody = {
      ts: Date.now(),
      uptimeSeconds: process.uptime(),
      pid: process.pid,
      memory: memoryUsage(),
      counts: pickCounts(await counts()),
    };
    c.header("cache-control", "no-store");
    return c.json(body);
  });
  return app;
}
