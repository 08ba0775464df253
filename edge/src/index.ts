/**
 * The Tether edge: a stateless Worker (routes in app.ts) and one Durable Object
 * per device (DeviceChannel). See docs/EDGE.md.
 */
export { DeviceChannel } from "./channel/device-channel.js";

import { app } from "./app.js";

export default app;
