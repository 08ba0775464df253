import { DurableObject } from "cloudflare:workers";
import { Hono } from "hono";
import { isDeviceId } from "../../protocol/src/index.js";

export class DeviceChannel extends DurableObject {}

const app = new Hono();
app.get("/healthz", (c) => c.json({ ok: isDeviceId("a") }));
export default app;
