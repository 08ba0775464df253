import { jobOfCommand, type TetherEvent } from "../../../protocol/src/index.js";
import { resultOfEvent } from "../channel/command-log.js";
import type { EdgeEnv } from "../env.js";

/**
 * The DeviceChannel's hook (issue 16): a `command_result` event whose id is a job's
 * command for this device (`job-<jobId>-<deviceId>`) also goes to that job's FleetJob.
 * A failure is logged, not thrown: the channel's own delivery must not fail because of
 * it, and a queued command never heard of ends `offline` by the job's own sweep.
 */
export async function forwardJobResult(env: EdgeEnv, event: TetherEvent): Promise<void> {
  if (event.type !== "command_result") return;
  const jobId = jobOfCommand(event.id, event.deviceId);
  if (jobId === null) return;
  try {
    await env.FLEET_JOB.getByName(jobId).commandResult(event.deviceId, resultOfEvent(event));
  } catch (error) {
    console.error("edge: a job's command result was not recorded", { jobId, error: String(error) });
  }
}
