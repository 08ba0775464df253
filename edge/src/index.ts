/**
 * The Tether edge: a stateless Worker (routes in app.ts), one Durable Object per
 * device (DeviceChannel), and the replay ledger of signed event batches
 * (BatchLedger). See docs/EDGE.md.
 */
export { DeviceChannel } from "./channel/device-channel.js";
export { FleetJob } from "./jobs/fleet-job.js";
export { JobRegistry } from "./jobs/job-registry.js";
export { BatchLedger } from "./ledger/batch-ledger.js";

import { app } from "./app.js";

export default app;
