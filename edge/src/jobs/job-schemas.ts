import { z } from "@hono/zod-openapi";
import { JOB_LIMITS, JOB_OUTCOMES, JOB_STATUSES } from "../../../protocol/src/index.js";
import { CommandBodySchema } from "../schemas.js";

/**
 * `POST /v1/jobs`'s body. Targets are checked in two steps (job-request.ts): their
 * number first (413 beyond JOB_LIMITS.maxTargets), then each id, so a 100,000-id list
 * is never parsed into 100,000 zod issues.
 */
export const JobBodySchema = z.strictObject({
  command: CommandBodySchema,
  targets: z
    .array(z.unknown())
    .min(1)
    .openapi({
      description: `1–${JOB_LIMITS.maxTargets} device ids (^[A-Za-z0-9_-]{1,64}$), deduplicated in order`,
      example: ["router-0", "router-1"],
    }),
  ratePerSecond: z
    .number()
    .int()
    .min(JOB_LIMITS.ratePerSecond.min)
    .max(JOB_LIMITS.ratePerSecond.max)
    .default(JOB_LIMITS.ratePerSecond.default),
  abort: z
    .strictObject({
      /** Abort once (failed + timed_out) / executed reaches this percentage. */
      failedPercent: z.number().min(0).max(100),
      /** …but only after this many routers executed the command. */
      minExecuted: z.number().int().min(1).max(JOB_LIMITS.maxTargets).default(1),
      /** Count `offline` routers as failures too (default false: offline is normal in a fleet). */
      countOffline: z.boolean().default(false),
    })
    .optional(),
});
export type JobBody = z.infer<typeof JobBodySchema>;

/** The plan a FleetJob stores: the request with targets validated and deduplicated. */
export interface JobPlan {
  command: JobBody["command"];
  targets: string[];
  ratePerSecond: number;
  abort: NonNullable<JobBody["abort"]> | null;
  /** SHA-256 of the request body: the same Idempotency-Key with another body is refused. */
  bodyHash: string;
}

const CountsSchema = z.object(Object.fromEntries(JOB_OUTCOMES.map((o) => [o, z.number().int()]))).openapi({
  description: "Routers per outcome; they add up to `total`",
});

export const JobViewSchema = z.object({
  id: z.string(),
  status: z.enum(JOB_STATUSES),
  /** The command's name and options (its params are not repeated here). */
  command: z.object({
    name: z.string(),
    timeoutMs: z.number().optional(),
    queue: z.boolean().optional(),
    ttlMs: z.number().optional(),
  }),
  total: z.number().int(),
  counts: CountsSchema,
  /** Routers sent the command so far (any outcome but never-sent `pending`). */
  dispatched: z.number().int(),
  percent: z.number(),
  ratePerSecond: z.number(),
  /** Commands sent per second over the last 10 s. */
  rate: z.number(),
  abort: z
    .object({ failedPercent: z.number(), minExecuted: z.number(), countOffline: z.boolean() })
    .nullable(),
  createdAt: z.number(),
  startedAt: z.number(),
  endedAt: z.number().nullable(),
  /** Epoch ms at which dispatch should end at the job's rate; null once ended. */
  eta: z.number().nullable(),
  reason: z.string().nullable(),
});
export type JobView = z.infer<typeof JobViewSchema>;

export const JobDeviceSchema = z.object({
  deviceId: z.string(),
  outcome: z.enum(JOB_OUTCOMES),
  commandId: z.string(),
  attempts: z.number().int(),
  updatedAt: z.number().nullable(),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
  result: z.unknown(),
});
export type JobDevice = z.infer<typeof JobDeviceSchema>;

export const JobDevicesPageSchema = z.object({
  devices: z.array(JobDeviceSchema),
  /** Pass as `?cursor=` for the next page; null on the last. */
  cursor: z.string().nullable(),
});
export type JobDevicesPage = z.infer<typeof JobDevicesPageSchema>;

export const JobDevicesQuerySchema = z.object({
  outcome: z.enum(JOB_OUTCOMES).optional(),
  cursor: z
    .string()
    .regex(/^[0-9]{1,9}$/)
    .optional(),
  limit: z.coerce.number().int().min(1).max(JOB_LIMITS.pageSize.max).optional(),
});
