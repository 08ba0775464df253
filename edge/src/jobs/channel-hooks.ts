import {
  ErrorCode,
  errorBody,
  jobOfCommand,
  TetherError,
  type TetherEvent,
} from "../../../protocol/src/index.js";
import { type BrokerAnswer, sendCommandToBroker } from "../broker-client.js";
import { resultOfEvent } from "../channel/command-log.js";
import type { EdgeEnv } from "../env.js";
import type { CommandBody } from "../schemas.js";

/** A job's command to one router, under its derived id (`job-<jobId>-<deviceId>`). */
export type JobCommand = CommandBody & { id: string };

/**
 * The DeviceChannel's two hooks for fleet jobs (issue 16). First: a job's command is
 * sent from the target device's own object (`DeviceChannel.jobCommand`), not from the
 * job's — on Cloudflare one invocation holds at most six outgoing connections waiting
 * for headers, and a command's answer waits for the router, so one object sending them
 * all would cap a job at six routers at a time. The broker's answer comes back as is;
 * an unreachable broker as its `502 broker_unavailable` body (errors lose their class
 * across RPC).
 */
export async function sendJobCommand(
  env: EdgeEnv,
  deviceId: string,
  command: JobCommand,
): Promise<BrokerAnswer> {
  try {
    return await sendCommandToBroker(env, deviceId, command);
  } catch (error) {
    if (!(error instanceof TetherError)) throw error;
    return {
      status: error.status,
      contentType: "application/json",
      body: JSON.stringify(errorBody(error.code, error.message, command.id)),
      retryAfter: null,
    };
  }
}

/**
 * Second: a `command_result` event whose id is a job's command for this device also goes
 * to that job's FleetJob (the broker sends such events only for commands it queued for
 * this device). A failure is logged, not thrown: the channel's own delivery must not fail
 * because of it, and a queued command never heard of ends `offline` by the job's sweep.
 */
export async function forwardJobResult(env: EdgeEnv, event: TetherEvent): Promise<void> {
  if (event.type !== "command_result") return;
  const jobId = jobOfCommand(event.id, event.deviceId);
  if (jobId === null) return;
  try {
    await env.FLEET_JOB.getByName(jobId).commandResult(event.deviceId, resultOfEvent(event));
  } catch (error) {
    console.error("edge: a job's command result was not recorded", {
      jobId,
      code: ErrorCode.Internal,
      error: String(error),
    });
  }
}
