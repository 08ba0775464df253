// @ts-check
/**
 * Guards for the frames the edge sends on `GET /v1/devices/{id}/ws`
 * (CONTRACT.md, "Edge HTTP and WebSocket API").
 *
 * This mirrors protocol/src/messages.ts on purpose: the file is served as-is to
 * browsers and copied into mobile apps, so it cannot import TypeScript. Two
 * deliberate differences, both for a client that must keep working against a
 * newer edge: a presence `reason` may be any short string, and a
 * `command_result` answering this socket's own command may omit
 * `deviceId`/`ts`.
 */

/** `^[A-Za-z0-9_-]{1,64}$` (CONTRACT.md, "Identities and secrets"). */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** Command and event names: one MQTT topic level. */
export const NAME_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
/** A snapshot carries at most this many recent events; extra ones are dropped. */
export const MAX_RECENT_EVENTS = 1000;
const MAX_ID_LENGTH = 128;
const MAX_SHORT_STRING = 64;

/**
 * @typedef {{ code: string, message: string }} ErrorInfo
 * @typedef {{ id: string, online: boolean, since: number | null, lastSeen: number | null,
 *   state: Record<string, unknown> | null }} DeviceView
 * @typedef {{ type: "state", deviceId: string, ts: number, state: Record<string, unknown> }} StateEvent
 * @typedef {{ type: "event", deviceId: string, ts: number, name: string, data: unknown }} DeviceEvent
 * @typedef {{ type: "presence", deviceId: string, ts: number, online: boolean, reason: string }} PresenceEvent
 * @typedef {{ type: "command_result", deviceId?: string, ts?: number, id: string, ok: boolean,
 *   result?: unknown, error?: ErrorInfo }} CommandResultEvent
 * @typedef {StateEvent | DeviceEvent | PresenceEvent | CommandResultEvent} TetherEvent
 * @typedef {{ version: number, code: string, message: string }} DesiredError
 * @typedef {{ desired: Record<string, unknown>, desiredVersion: number, reportedDesiredVersion: number | null,
 *   delta: Record<string, unknown>, desiredError: DesiredError | null }} DesiredInfo
 * @typedef {{ type: "snapshot", device: DeviceView, desired: DesiredInfo | null, recent: TetherEvent[],
 *   dropped: number }} SnapshotFrame
 * @typedef {DesiredInfo & { type: "desired", deviceId: string, ts: number }} DesiredFrame
 * @typedef {{ type: "error", error: ErrorInfo, id?: string }} ErrorFrame
 * @typedef {SnapshotFrame | TetherEvent | ErrorFrame | DesiredFrame} ServerFrame
 */

/**
 * @template T
 * @typedef {{ ok: true, value: T } | { ok: false, message: string }} Parsed
 */

/**
 * @param {unknown} value
 * @returns {value is Record<string, unknown>}
 */
export function isRecord(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * @param {unknown} value
 * @returns {value is string}
 */
export function isDeviceId(value) {
  return typeof value === "string" && DEVICE_ID_PATTERN.test(value);
}

/**
 * True for a valid command or event name.
 * @example isCommandName("reboot") // true
 * @param {unknown} value
 * @returns {value is string}
 */
export function isCommandName(value) {
  return typeof value === "string" && NAME_PATTERN.test(value);
}

/** @param {unknown} value @returns {value is number} */
function isTime(value) {
  return typeof value === "number" && Number.isFinite(value);
}

/** @param {unknown} value @returns {value is number | null} */
function isTimeOrNull(value) {
  return value === null || isTime(value);
}

/** @param {unknown} value @returns {value is string} */
function isCommandId(value) {
  return typeof value === "string" && value.length > 0 && value.length <= MAX_ID_LENGTH;
}

/** @param {unknown} value @returns {ErrorInfo | null} */
function toErrorInfo(value) {
  if (!isRecord(value) || typeof value.code !== "string" || typeof value.message !== "string") return null;
  return { code: value.code, message: value.message };
}

/**
 * Validates a device view as in the snapshot frame and `GET /v1/devices/{id}`.
 * @param {unknown} value
 * @returns {Parsed<DeviceView>}
 */
export function parseDeviceView(value) {
  if (!isRecord(value)) return { ok: false, message: "device must be an object" };
  const { id, online, since, lastSeen, state } = value;
  if (!isDeviceId(id)) return { ok: false, message: "device.id is not a device id" };
  if (typeof online !== "boolean") return { ok: false, message: "device.online must be a boolean" };
  if (!isTimeOrNull(since) || !isTimeOrNull(lastSeen)) {
    return { ok: false, message: "device.since and device.lastSeen must be numbers or null" };
  }
  if (state !== null && !isRecord(state))
    return { ok: false, message: "device.state must be an object or null" };
  return { ok: true, value: { id, online, since, lastSeen, state } };
}

/** @param {unknown} value @returns {value is number} */
function isVersion(value) {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/**
 * Reads the desired-state fields (issue 15) of a device view or a `desired` frame; null
 * when they are absent (an older edge) or malformed.
 * @example const info = parseDesiredInfo(view); if (info) console.log(info.delta);
 * @param {Record<string, unknown>} value
 * @returns {DesiredInfo | null}
 */
export function parseDesiredInfo(value) {
  const { desired, desiredVersion, reportedDesiredVersion, delta, desiredError } = value;
  if (!isRecord(desired) || !isVersion(desiredVersion) || !isRecord(delta)) return null;
  if (reportedDesiredVersion !== null && !isVersion(reportedDesiredVersion)) return null;
  /** @type {DesiredError | null} */
  let error = null;
  if (desiredError !== null && desiredError !== undefined) {
    const info = toErrorInfo(desiredError);
    if (info === null || !isRecord(desiredError) || !isVersion(desiredError.version)) return null;
    error = { version: desiredError.version, ...info };
  }
  return { desired, desiredVersion, reportedDesiredVersion, delta, desiredError: error };
}

/**
 * Validates one event frame (`state`, `event`, `presence`, `command_result`).
 * @param {unknown} value
 * @returns {Parsed<TetherEvent>}
 */
export function parseEvent(value) {
  if (!isRecord(value)) return { ok: false, message: "event must be an object" };
  const { type, deviceId, ts } = value;
  if (type === "command_result") return parseCommandResultEvent(value);
  if (!isDeviceId(deviceId)) return { ok: false, message: "event.deviceId is not a device id" };
  if (!isTime(ts)) return { ok: false, message: "event.ts must be a number" };
  switch (type) {
    case "state":
      if (!isRecord(value.state)) return { ok: false, message: "state event needs a state object" };
      return { ok: true, value: { type, deviceId, ts, state: value.state } };
    case "event":
      if (!isCommandName(value.name)) return { ok: false, message: "event.name is invalid" };
      return { ok: true, value: { type, deviceId, ts, name: value.name, data: value.data ?? null } };
    case "presence": {
      const { online, reason } = value;
      if (typeof online !== "boolean") return { ok: false, message: "presence.online must be a boolean" };
      if (typeof reason !== "string" || reason.length > MAX_SHORT_STRING) {
        return { ok: false, message: "presence.reason must be a short string" };
      }
      return { ok: true, value: { type, deviceId, ts, online, reason } };
    }
    default:
      return { ok: false, message: `unknown event type ${JSON.stringify(type)}` };
  }
}

/**
 * @param {Record<string, unknown>} value
 * @returns {Parsed<CommandResultEvent>}
 */
function parseCommandResultEvent(value) {
  const { id, ok, deviceId, ts } = value;
  if (!isCommandId(id)) return { ok: false, message: "command_result.id must be a non-empty string" };
  if (typeof ok !== "boolean") return { ok: false, message: "command_result.ok must be a boolean" };
  if (deviceId !== undefined && !isDeviceId(deviceId)) {
    return { ok: false, message: "command_result.deviceId is not a device id" };
  }
  if (ts !== undefined && !isTime(ts)) return { ok: false, message: "command_result.ts must be a number" };
  /** @type {CommandResultEvent} */
  const event = { type: "command_result", id, ok };
  if (deviceId !== undefined) event.deviceId = deviceId;
  if (ts !== undefined) event.ts = ts;
  if (ok) {
    event.result = value.result ?? null;
  } else {
    const error = toErrorInfo(value.error);
    if (error === null) return { ok: false, message: "command_result.error must be {code, message}" };
    event.error = error;
  }
  return { ok: true, value: event };
}

/**
 * Validates any server → client frame. `deviceId` is the device this socket
 * watches: a frame about another device is refused, not trusted.
 * @example
 * const parsed = parseServerFrame(JSON.parse(text), "router-1");
 * if (parsed.ok) console.log(parsed.value.type);
 * @param {unknown} value
 * @param {string} deviceId
 * @returns {Parsed<ServerFrame>}
 */
export function parseServerFrame(value, deviceId) {
  if (!isRecord(value)) return { ok: false, message: "frame must be a JSON object" };
  if (value.type === "snapshot") return parseSnapshot(value, deviceId);
  if (value.type === "desired") {
    const info = parseDesiredInfo(value);
    if (info === null) return { ok: false, message: "desired frame needs desired, desiredVersion and delta" };
    if (value.deviceId !== deviceId)
      return { ok: false, message: `desired frame is about device ${value.deviceId}` };
    if (!isTime(value.ts)) return { ok: false, message: "desired.ts must be a number" };
    return { ok: true, value: { type: "desired", deviceId, ts: value.ts, ...info } };
  }
  if (value.type === "error") {
    const error = toErrorInfo(value.error);
    if (error === null) return { ok: false, message: "error frame needs error {code, message}" };
    if (value.id !== undefined && !isCommandId(value.id))
      return { ok: false, message: "error.id is invalid" };
    return {
      ok: true,
      value: value.id === undefined ? { type: "error", error } : { type: "error", error, id: value.id },
    };
  }
  const parsed = parseEvent(value);
  if (parsed.ok && parsed.value.deviceId !== undefined && parsed.value.deviceId !== deviceId) {
    return { ok: false, message: `frame is about device ${parsed.value.deviceId}, not ${deviceId}` };
  }
  return parsed;
}

/**
 * @param {Record<string, unknown>} value
 * @param {string} deviceId
 * @returns {Parsed<SnapshotFrame>}
 */
function parseSnapshot(value, deviceId) {
  const device = parseDeviceView(value.device);
  if (!device.ok) return { ok: false, message: `snapshot: ${device.message}` };
  if (device.value.id !== deviceId)
    return { ok: false, message: `snapshot is about device ${device.value.id}` };
  const raw = value.recent ?? [];
  if (!Array.isArray(raw)) return { ok: false, message: "snapshot.recent must be an array" };
  /** @type {TetherEvent[]} */
  const recent = [];
  let dropped = Math.max(0, raw.length - MAX_RECENT_EVENTS);
  for (const item of raw.slice(-MAX_RECENT_EVENTS)) {
    const event = parseEvent(item);
    if (event.ok && (event.value.deviceId === undefined || event.value.deviceId === deviceId)) {
      recent.push(event.value);
    } else {
      dropped += 1;
    }
  }
  const desired = isRecord(value.device) ? parseDesiredInfo(value.device) : null;
  return { ok: true, value: { type: "snapshot", device: device.value, desired, recent, dropped } };
}
