import {
  DEVICE_ID_PATTERN,
  ErrorCode,
  JOB_LIMITS,
  parseJson,
  TetherError,
} from "../../../protocol/src/index.js";
import { describeIssue } from "../schemas.js";
import { JobBodySchema, type JobPlan } from "./job-schemas.js";

/**
 * Largest `POST /v1/jobs` body: 100,000 ids of 64 characters (67 bytes each in JSON)
 * plus a 64 KiB command, rounded up. Anything larger is refused 413 before it is read.
 */
export const MAX_JOB_BODY_BYTES = 8 * 1024 * 1024;

const invalid = (message: string) => new TetherError(ErrorCode.InvalidRequest, message, { status: 400 });

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Validates a `POST /v1/jobs` body: the command as `POST /v1/devices/{id}/commands`
 * takes it, then the targets — more than JOB_LIMITS.maxTargets distinct ids → 413,
 * a malformed one → 400 naming its index — deduplicated in their first order.
 */
export async function parseJobRequest(raw: string): Promise<JobPlan> {
  const json = parseJson(raw);
  if (!json.ok) throw invalid(json.message);
  const body = JobBodySchema.safeParse(json.value);
  if (!body.success) throw invalid(describeIssue(body.error));
  const { command, targets, ratePerSecond, abort } = body.data;
  const unique = new Set<string>();
  for (const [index, target] of targets.entries()) {
    if (typeof target !== "string" || !DEVICE_ID_PATTERN.test(target)) {
      throw invalid(`targets.${index}: not a device id (${DEVICE_ID_PATTERN.source})`);
    }
    unique.add(target);
    if (unique.size > JOB_LIMITS.maxTargets) {
      throw new TetherError(
        ErrorCode.PayloadTooLarge,
        `more than ${JOB_LIMITS.maxTargets} distinct targets; split the job`,
        { status: 413 },
      );
    }
  }
  return {
    command,
    targets: [...unique],
    ratePerSecond,
    abort: abort ?? null,
    bodyHash: await sha256Hex(raw),
  };
}

/**
 * The job id: from the `Idempotency-Key` (a retried POST reaches the same job), else random.
 * Derived by hashing, so the key itself is never stored or echoed.
 */
export async function jobIdFor(idempotencyKey: string | undefined): Promise<string> {
  if (idempotencyKey === undefined) return crypto.randomUUID().replaceAll("-", "");
  if (!JOB_LIMITS.idempotencyKeyPattern.test(idempotencyKey)) {
    throw invalid("Idempotency-Key must be 1–200 visible ASCII characters");
  }
  return (await sha256Hex(`idempotency-key:${idempotencyKey}`)).slice(0, 32);
}
