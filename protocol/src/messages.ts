import { isDeviceId } from "./ids.js";
import { EVENT_BATCH_LIMITS, jsonDepthExceeds, MAX_JSON_DEPTH } from "./limits.js";
import { EVENT_NAME_PATTERN } from "./topics.js";

/**
 * Wire messages of CONTRACT.md with hand-written guards. The device SDK may
 * depend on nothing but mqtt, so this module cannot pull in zod; the broker and
 * edge use zod for their HTTP bodies on top of the limits exported here.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Broker → device on `devices/{id}/commands`. */
export interface Command {
  id: string;
  name: string;
  params: unknown;
  /** Epoch ms after which the command must not run. */
  expiresAt: number;
}

export type CommandResult =
  | { id: string; ok: true; result: unknown }
  | { id: string; ok: false; error: { code: string; message: string } };

export type PresenceReason =
  | "connect"
  | "disconnect"
  | "keepalive_timeout"
  | "takeover"
  | "error"
  | "session_expired"
  /** The device's credential was revoked while it was connected (issue 10). */
  | "revoked"
  /** A memory-mode broker restarted and the device did not come back in time (issue 12). */
  | "broker_restart";

export const PRESENCE_REASONS: readonly PresenceReason[] = [
  "connect",
  "disconnect",
  "keepalive_timeout",
  "takeover",
  "error",
  "session_expired",
  "revoked",
  "broker_restart",
];

interface EventBase {
  deviceId: string;
  /** Epoch ms when the broker saw it. */
  ts: number;
}
export type StateEvent = EventBase & { type: "state"; state: Record<string, unknown> };
export type DeviceEvent = EventBase & { type: "event"; name: string; data: unknown };
export type PresenceEvent = EventBase & {
  type: "presence";
  online: boolean;
  reason: PresenceReason;
};
export type CommandResultEvent = EventBase & {
  type: "command_result";
  id: string;
  ok: boolean;
  result?: unknown;
  error?: { code: string; message: string };
};
export type TetherEvent = StateEvent | DeviceEvent | PresenceEvent | CommandResultEvent;

/**
 * Body of `POST {EDGE_EVENTS_URL}`. `batchId` is unique per batch and lies inside the
 * signed body, so the edge can refuse a captured batch replayed within the signature's
 * window (`409 replayed`, CONTRACT.md "Additions").
 */
export interface EventBatch {
  batchId: string;
  events: TetherEvent[];
}

/** A batch id: 8–128 characters of `[A-Za-z0-9_-]` (the broker sends a UUID-like id). */
export const BATCH_ID_PATTERN = /^[A-Za-z0-9_-]{8,128}$/;

/** `GET /v1/devices/{id}` on broker and edge. */
export interface DeviceView {
  id: string;
  online: boolean;
  since: number | null;
  lastSeen: number | null;
  state: Record<string, unknown> | null;
}

/** Limits of `POST /v1/devices/{id}/commands` (CONTRACT.md, "Broker HTTP API"). */
export const COMMAND_LIMITS = {
  timeoutMs: { min: 100, max: 60_000, default: 10_000 },
  ttlMs: { min: 1_000, max: 604_800_000, default: 3_600_000 },
  /** Command and event names: same alphabet as event names. */
  namePattern: EVENT_NAME_PATTERN,
  /** A caller-chosen command id (the edge sends a UUID); also the status route's `{commandId}`. */
  idPattern: /^[A-Za-z0-9_-]{8,128}$/,
} as const;

/**
 * `GET /v1/devices/{id}/commands/{commandId}` on the edge (Rails token): where a
 * command sent through the edge stands. `pending` while the broker has not answered,
 * `queued` after its 202, `done` with the final result — the device's own, or
 * `ok: false` with the broker's code (`timeout`, `device_offline`, `command_expired`,
 * `session_expired`, …).
 */
export type CommandStatus = {
  id: string;
  deviceId: string;
  /** Epoch ms: when the edge first heard of the command, and when its status last changed. */
  createdAt: number;
  updatedAt: number;
} & (
  | { status: "pending" }
  | { status: "queued"; expiresAt: number }
  | { status: "done"; ok: true; result: unknown }
  | { status: "done"; ok: false; error: { code: string; message: string } }
);

export interface CommandRequest {
  /**
   * The caller's id for the command (the edge sends a UUID so that it can report the
   * command as `pending` before the broker answers); the broker makes one when absent.
   */
  id?: string;
  name: string;
  params?: unknown;
  timeoutMs?: number;
  queue?: boolean;
  ttlMs?: number;
}

/** The outcome of a guard: the value, or a message saying what is wrong. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Parses JSON text without throwing. */
export function parseJson(text: string): Parsed<unknown> {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (error) {
    return { ok: false, message: `invalid JSON: ${(error as Error).message}` };
  }
}

const ID_MAX = 128;

function isCommandId(value: unknown): value is string {
  return typeof value === "string" && value.length > 0 && value.length <= ID_MAX;
}

/** Validates a command as a device receives it. */
export function parseCommand(value: unknown): Parsed<Command> {
  if (!isRecord(value)) return { ok: false, message: "command must be a JSON object" };
  if (!isCommandId(value.id)) return { ok: false, message: "command.id must be a non-empty string" };
  if (typeof value.name !== "string" || !COMMAND_LIMITS.namePattern.test(value.name)) {
    return { ok: false, message: "command.name must match [A-Za-z0-9_.-]{1,64}" };
  }
  if (typeof value.expiresAt !== "number" || !Number.isFinite(value.expiresAt)) {
    return { ok: false, message: "command.expiresAt must be a number (epoch ms)" };
  }
  return {
    ok: true,
    value: { id: value.id, name: value.name, params: value.params ?? null, expiresAt: value.expiresAt },
  };
}

/** Validates a result as a device publishes it. */
export function parseCommandResult(value: unknown): Parsed<CommandResult> {
  if (!isRecord(value)) return { ok: false, message: "result must be a JSON object" };
  if (!isCommandId(value.id)) return { ok: false, message: "result.id must be a non-empty string" };
  if (value.ok === true) return { ok: true, value: { id: value.id, ok: true, result: value.result ?? null } };
  if (value.ok === false) {
    const error = value.error;
    if (!isRecord(error) || typeof error.code !== "string" || typeof error.message !== "string") {
      return { ok: false, message: "result.error must be {code: string, message: string}" };
    }
    return {
      ok: true,
      value: { id: value.id, ok: false, error: { code: error.code, message: error.message } },
    };
  }
  return { ok: false, message: "result.ok must be a boolean" };
}

/** Validates a reported state: a JSON object. */
export function parseState(value: unknown): Parsed<Record<string, unknown>> {
  return isRecord(value) ? { ok: true, value } : { ok: false, message: "state must be a JSON object" };
}

/** Why a device payload was refused before it became an event. */
export type PayloadRefusal = "invalid_json" | "too_deep";

/**
 * Parses a device's MQTT payload: JSON, nested at most `maxDepth` levels (checked on the
 * raw text first, so a 7,000-level `[[[…]]]` costs a scan, not a parse).
 *
 * @example
 *   parseDevicePayload('{"wifi":{"ssid":"home"}}') // { ok: true, value: {...} }
 *   parseDevicePayload("[".repeat(40) + "]".repeat(40)) // { ok: false, reason: "too_deep", ... }
 */
export function parseDevicePayload(
  text: string,
  maxDepth = MAX_JSON_DEPTH,
): { ok: true; value: unknown } | { ok: false; reason: PayloadRefusal; message: string } {
  if (jsonDepthExceeds(text, maxDepth)) {
    return { ok: false, reason: "too_deep", message: `JSON nested deeper than ${maxDepth} levels` };
  }
  const json = parseJson(text);
  return json.ok ? json : { ok: false, reason: "invalid_json", message: json.message };
}

/** Validates one event of a batch (the edge's trust boundary). */
export function parseEvent(value: unknown): Parsed<TetherEvent> {
  if (!isRecord(value)) return { ok: false, message: "event must be a JSON object" };
  const { deviceId, ts, type } = value;
  if (!isDeviceId(deviceId)) return { ok: false, message: "event.deviceId is not a device id" };
  if (typeof ts !== "number" || !Number.isFinite(ts))
    return { ok: false, message: "event.ts must be a number" };
  switch (type) {
    case "state":
      if (!isRecord(value.state)) return { ok: false, message: "state event needs a state object" };
      return { ok: true, value: { type, deviceId, ts, state: value.state } };
    case "event":
      if (typeof value.name !== "string" || !EVENT_NAME_PATTERN.test(value.name)) {
        return { ok: false, message: "event.name is invalid" };
      }
      return { ok: true, value: { type, deviceId, ts, name: value.name, data: value.data ?? null } };
    case "presence": {
      const reason = value.reason;
      if (typeof value.online !== "boolean")
        return { ok: false, message: "presence.online must be a boolean" };
      if (typeof reason !== "string" || !(PRESENCE_REASONS as readonly string[]).includes(reason)) {
        return { ok: false, message: "presence.reason is invalid" };
      }
      return {
        ok: true,
        value: { type, deviceId, ts, online: value.online, reason: reason as PresenceReason },
      };
    }
    case "command_result": {
      const parsed = parseCommandResult(value);
      if (!parsed.ok) return parsed;
      const r = parsed.value;
      return {
        ok: true,
        value: r.ok
          ? { type, deviceId, ts, id: r.id, ok: true, result: r.result }
          : { type, deviceId, ts, id: r.id, ok: false, error: r.error },
      };
    }
    default:
      return { ok: false, message: "event.type is unknown" };
  }
}

/** Validates a whole `{"events": [...]}` batch; at most `maxEvents`. */
export function parseEventBatch(
  value: unknown,
  maxEvents: number = EVENT_BATCH_LIMITS.maxEvents,
): Parsed<EventBatch> {
  if (!isRecord(value) || !Array.isArray(value.events)) {
    return { ok: false, message: 'body must be {"batchId": string, "events": [...]}' };
  }
  const { batchId } = value;
  if (typeof batchId !== "string" || !BATCH_ID_PATTERN.test(batchId)) {
    return { ok: false, message: "batchId must be 8–128 characters of [A-Za-z0-9_-]" };
  }
  if (value.events.length > maxEvents) return { ok: false, message: `at most ${maxEvents} events per batch` };
  const events: TetherEvent[] = [];
  for (const [index, raw] of value.events.entries()) {
    const parsed = parseEvent(raw);
    if (!parsed.ok) return { ok: false, message: `events[${index}]: ${parsed.message}` };
    events.push(parsed.value);
  }
  return { ok: true, value: { batchId, events } };
}
