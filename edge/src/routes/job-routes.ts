import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import {
  ErrorCode,
  JOB_ID_PATTERN,
  JOB_LIMITS,
  RETRY_AFTER_HEADER,
  TetherError,
} from "../../../protocol/src/index.js";
import { CLIENT_SUBPROTOCOL } from "../auth/client-token.js";
import { railsToken } from "../auth/rails-token.js";
import { bodySize } from "../body-size.js";
import { edgeConfig } from "../config/config-guard.js";
import type { EdgeEnv } from "../env.js";
import { errorResponse, requireSecret } from "../http-errors.js";
import { callJob } from "../jobs/job-call.js";
import { jobIdFor, MAX_JOB_BODY_BYTES, parseJobRequest } from "../jobs/job-request.js";
import {
  JobBodySchema,
  JobDevicesPageSchema,
  JobDevicesQuerySchema,
  JobViewSchema,
} from "../jobs/job-schemas.js";
import { authorizeJobSocket } from "../jobs/job-token.js";
import { DEADLINE_HEADER, SUBPROTOCOL_HEADER } from "../jobs/progress-sockets.js";
import { document, errorAnswer, json, RAILS_BEARER, retryAnswer, unauthorized } from "../openapi.js";
import { describeIssue } from "../schemas.js";

/** Fleet jobs (issue 16), under `/v1/jobs`: one FleetJob object per job (edge/src/jobs/). */
export const jobRoutes = new OpenAPIHono<{ Bindings: EdgeEnv }>();

const JobIdParams = z.object({
  id: z
    .string()
    .regex(JOB_ID_PATTERN)
    .openapi({ param: { name: "id", in: "path" }, example: "3f2a…(32 hex)" }),
});
const badJobId = errorAnswer("Not a job id (`invalid_request`)");
const busy = retryAnswer(
  "The job's object is momentarily busy (its storage short of memory, overloaded, reset): `overloaded`, `Retry-After: 1`; nothing is lost, ask again",
);
const noJob = errorAnswer("No such job, or it was deleted after JOB_RETENTION_DAYS (`not_found`)");

function jobIdParam(): MiddlewareHandler {
  return async function checkJobId(c, next) {
    if (!JOB_ID_PATTERN.test(c.req.param("id") ?? "")) {
      throw new TetherError(ErrorCode.InvalidRequest, "job id must be 32 lowercase hex characters", {
        status: 400,
      });
    }
    await next();
  };
}

const notFound = () => new TetherError(ErrorCode.NotFound, "no such job", { status: 404 });

document(
  jobRoutes,
  createRoute({
    method: "post",
    path: "/",
    summary: "Start a fleet job: one command to many routers at a paced rate, with an abort threshold",
    description: `Targets: 1–${JOB_LIMITS.maxTargets} device ids, deduplicated. Body at most ${MAX_JOB_BODY_BYTES} bytes. With \`Idempotency-Key\`, a retried POST answers the same job (200) instead of starting another.`,
    security: RAILS_BEARER,
    request: {
      headers: z.object({ "idempotency-key": z.string().optional() }),
      body: { required: true, content: { "application/json": { schema: JobBodySchema } } },
    },
    responses: {
      201: json(JobViewSchema, "Started"),
      200: json(JobViewSchema, "The job this Idempotency-Key already started"),
      400: errorAnswer("Bad body, target id or Idempotency-Key (`invalid_request`)"),
      401: unauthorized,
      409: errorAnswer("The Idempotency-Key was used with another body (`idempotency_conflict`)"),
      413: errorAnswer(
        `Body above ${MAX_JOB_BODY_BYTES} bytes, or more than ${JOB_LIMITS.maxTargets} targets (\`payload_too_large\`)`,
      ),
      429: retryAnswer(`${JOB_LIMITS.maxRunningJobs} jobs already running (\`too_many_jobs\`)`),
      503: busy,
    },
  }),
);
jobRoutes.post("/", railsToken(), bodySize(MAX_JOB_BODY_BYTES), async (c) => {
  const id = await jobIdFor(c.req.header("idempotency-key"));
  const plan = await parseJobRequest(await c.req.text());
  // `async`: the stub types each answer kind as its own promise; one promise of the union here.
  const answer = await callJob(async () => await c.env.FLEET_JOB.getByName(id).create(id, plan));
  switch (answer.kind) {
    case "created":
      return c.json(answer.view, 201);
    case "exists":
      return c.json(answer.view, 200);
    case "conflict":
      throw new TetherError(
        ErrorCode.IdempotencyConflict,
        "this Idempotency-Key started a job with another body",
        {
          status: 409,
        },
      );
    case "limit": {
      const refusal = errorResponse(
        429,
        ErrorCode.TooManyJobs,
        `at most ${JOB_LIMITS.maxRunningJobs} jobs run at once; wait for one to end or cancel one`,
      );
      refusal.headers.set(RETRY_AFTER_HEADER, "10");
      return refusal;
    }
  }
});

document(
  jobRoutes,
  createRoute({
    method: "get",
    path: "/{id}",
    summary: "A job's status, counts per outcome, percent, rate and ETA",
    security: RAILS_BEARER,
    request: { params: JobIdParams },
    responses: {
      200: json(JobViewSchema, "The job"),
      400: badJobId,
      401: unauthorized,
      404: noJob,
      503: busy,
    },
  }),
);
jobRoutes.get("/:id", railsToken(), jobIdParam(), async (c) => {
  const view = await callJob(() => c.env.FLEET_JOB.getByName(c.req.param("id")).status());
  if (!view) throw notFound();
  return c.json(view);
});

document(
  jobRoutes,
  createRoute({
    method: "get",
    path: "/{id}/devices",
    summary: "Per-router outcomes, a page at a time (in target order)",
    security: RAILS_BEARER,
    request: { params: JobIdParams, query: JobDevicesQuerySchema },
    responses: {
      200: json(JobDevicesPageSchema, "A page; `cursor` is null on the last"),
      400: errorAnswer("Bad job id, outcome, cursor or limit (`invalid_request`)"),
      401: unauthorized,
      404: noJob,
      503: busy,
    },
  }),
);
jobRoutes.get("/:id/devices", railsToken(), jobIdParam(), async (c) => {
  const query = JobDevicesQuerySchema.safeParse(c.req.query());
  if (!query.success)
    throw new TetherError(ErrorCode.InvalidRequest, describeIssue(query.error), { status: 400 });
  const { outcome, cursor, limit } = query.data;
  const page = await callJob(() =>
    c.env.FLEET_JOB.getByName(c.req.param("id")).devices(
      outcome,
      Number(cursor ?? "0"),
      limit ?? JOB_LIMITS.pageSize.default,
    ),
  );
  if (!page) throw notFound();
  return c.json(page);
});

document(
  jobRoutes,
  createRoute({
    method: "post",
    path: "/{id}/cancel",
    summary: "Cancel a job: nothing more is sent; commands in flight finish and are recorded",
    security: RAILS_BEARER,
    request: { params: JobIdParams },
    responses: {
      200: json(JobViewSchema, "The job (status `cancelled`, or the end it had already reached)"),
      400: badJobId,
      401: unauthorized,
      404: noJob,
      503: busy,
    },
  }),
);
jobRoutes.post("/:id/cancel", railsToken(), jobIdParam(), async (c) => {
  const view = await callJob(() => c.env.FLEET_JOB.getByName(c.req.param("id")).cancel());
  if (!view) throw notFound();
  return c.json(view);
});

document(
  jobRoutes,
  createRoute({
    method: "get",
    path: "/{id}/ws",
    summary: "Live progress of a job: `job` frames (status, counts, percent), at most 4 per second",
    description:
      "The Rails token (Authorization, or after `tether` in Sec-WebSocket-Protocol, or `?token=`), or a client JWT (CLIENT_JWT_SECRET) with a `jobs` claim naming the job (or `true`).",
    request: {
      params: JobIdParams,
      query: z.object({ token: z.string().optional() }),
      headers: z.object({ upgrade: z.literal("websocket"), "sec-websocket-protocol": z.string().optional() }),
    },
    responses: {
      101: { description: "Switched to the WebSocket; a `job` frame comes first" },
      400: badJobId,
      401: errorAnswer("No, forged or expired token (`unauthorized`)"),
      403: errorAnswer("The JWT's `jobs` claim does not name this job (`forbidden`)"),
      404: noJob,
      426: errorAnswer("Not a WebSocket upgrade"),
      503: busy,
    },
  }),
);
jobRoutes.get("/:id/ws", jobIdParam(), async (c) => {
  const jobId = c.req.param("id");
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
    throw new TetherError(ErrorCode.InvalidRequest, "expected a WebSocket upgrade", { status: 426 });
  }
  const { deadline, offeredSubprotocol } = await authorizeJobSocket(
    new URL(c.req.url),
    { authorization: c.req.header("authorization"), protocol: c.req.header("sec-websocket-protocol") },
    requireSecret(c.env, "RAILS_API_TOKEN"),
    edgeConfig(c.env).clientJwt,
    jobId,
    Date.now(),
  );
  // A request of the edge's own making: nothing the client sent reaches the object.
  const headers = new Headers({ upgrade: "websocket", [DEADLINE_HEADER]: String(deadline) });
  if (offeredSubprotocol) headers.set(SUBPROTOCOL_HEADER, CLIENT_SUBPROTOCOL);
  return callJob(() =>
    c.env.FLEET_JOB.getByName(jobId).fetch(new Request("https://job.internal/ws", { headers })),
  );
});
