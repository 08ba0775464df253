import { z } from "zod";
import { COMMAND_LIMITS } from "../../protocol/src/index.js";
import { MAX_TOKEN_BYTES } from "./auth/client-token.js";

/**
 * Schemas of what crosses the edge's trust boundaries: Rails command bodies, client
 * frames, broker answers. Limits come from the protocol module.
 */

const commandName = z.string().regex(COMMAND_LIMITS.namePattern, "must match [A-Za-z0-9_.-]{1,64}");
const timeoutMs = z.number().int().min(COMMAND_LIMITS.timeoutMs.min).max(COMMAND_LIMITS.timeoutMs.max);
const ttlMs = z.number().int().min(COMMAND_LIMITS.ttlMs.min).max(COMMAND_LIMITS.ttlMs.max);

/** Body of `POST /v1/devices/{id}/commands` (CONTRACT.md, "Broker HTTP API"). */
export const CommandBodySchema = z.strictObject({
  name: commandName,
  params: z.unknown().optional(),
  timeoutMs: timeoutMs.optional(),
  queue: z.boolean().optional(),
  ttlMs: ttlMs.optional(),
});
export type CommandBody = z.infer<typeof CommandBodySchema>;

/** Client → edge `command` frame (CONTRACT.md, "Edge HTTP and WebSocket API"). */
export const CommandFrameSchema = z.strictObject({
  type: z.literal("command"),
  id: z.string().min(1).max(128).optional(),
  name: commandName,
  params: z.unknown().optional(),
  timeoutMs: timeoutMs.optional(),
});
export type CommandFrame = z.infer<typeof CommandFrameSchema>;

/** Client → edge `auth` frame: a fresh token for the same user, which moves the socket's deadline. */
export const AuthFrameSchema = z.strictObject({
  type: z.literal("auth"),
  // Bytes are checked by verifyClientToken; this only stops a huge string early.
  token: z.string().min(1).max(MAX_TOKEN_BYTES),
});

/**
 * Client → edge `desired` frame (issue 15): a JSON merge patch of the device's desired
 * state, optionally only if its version is still `ifVersion`. Needs the `cmd` right.
 */
export const DesiredFrameSchema = z.strictObject({
  type: z.literal("desired"),
  id: z.string().min(1).max(128).optional(),
  patch: z.record(z.string(), z.unknown()),
  ifVersion: z.number().int().min(0).optional(),
});
export type DesiredClientFrame = z.infer<typeof DesiredFrameSchema>;

/** Every frame a client may send (besides the text `ping`, answered by the runtime). */
export const ClientFrameSchema = z.discriminatedUnion("type", [
  CommandFrameSchema,
  AuthFrameSchema,
  DesiredFrameSchema,
]);

/** `{"error": {"code", "message"}}` as the broker answers it (plus `id` where one exists). */
export const ErrorBodySchema = z.object({
  id: z.string().optional(),
  error: z.object({ code: z.string(), message: z.string() }),
});

/** First issue of a failed parse, as `path: message`, for error bodies. */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return "invalid value";
  const path = issue.path.map(String).join(".");
  return path ? `${path}: ${issue.message}` : issue.message;
}

/** `GET /v1/devices/{id}`'s answer (its shape in the OpenAPI document; the DeviceChannel builds it). */
export const DeviceViewSchema = z.object({
  id: z.string(),
  online: z.boolean(),
  since: z.number().nullable(),
  lastSeen: z.number().nullable(),
  state: z.record(z.string(), z.unknown()).nullable(),
  desired: z.record(z.string(), z.unknown()).describe("The desired object ({} before the first patch)"),
  desiredVersion: z.number().int().describe("0 before the first patch, then +1 per change"),
  reportedDesiredVersion: z
    .number()
    .int()
    .nullable()
    .describe("The version the device last reported applying (its state's desiredVersion)"),
  delta: z
    .record(z.string(), z.unknown())
    .describe("Top-level keys of desired whose value differs from the reported state"),
  desiredError: z
    .object({ version: z.number().int(), code: z.string(), message: z.string() })
    .nullable()
    .describe("The device's last failure to apply a version (its state's desiredError)"),
});
