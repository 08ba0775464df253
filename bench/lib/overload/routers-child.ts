/**
 * The overload bench's answering routers in their own process, so that their work
 * and the load generator's do not delay each other. `--mqtt-url URL --prefix P --count N`;
 * sends `ready` over IPC once all are subscribed, and closes them on `close` (or when
 * the parent goes away).
 */
import { parseArgs } from "node:util";
import { answeringDevice } from "../peers/round-trip.js";

const { values } = parseArgs({
  options: { "mqtt-url": { type: "string" }, prefix: { type: "string" }, count: { type: "string" } },
});
const url = values["mqtt-url"] ?? "";
const ids = Array.from({ length: Number(values.count) }, (_, i) => `${values.prefix}-${i}`);
const routers = await Promise.all(ids.map((id) => answeringDevice(url, id)));
const close = async () => {
  await Promise.all(routers.map((router) => router.endAsync(true)));
  process.exit(0);
};
process.on("message", (message: unknown) => {
  if (message === "close") void close();
});
process.on("disconnect", () => void close());
process.send?.("ready");
