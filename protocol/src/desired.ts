import { ErrorCode } from "./errors.js";
import { jsonDepthExceeds, MAX_JSON_DEPTH } from "./limits.js";
import { isRecord, type Parsed } from "./messages.js";

/**
 * Desired state (issue 15): Rails sets a router's configuration once, as a JSON merge
 * patch (RFC 7386) on a versioned document `{"version": n, "desired": {…}}`; the router
 * converges whenever it is online and acknowledges by reporting `desiredVersion` (or
 * `desiredError`) in its state. Pure, like the rest of this module: the device SDK
 * imports it too, so no zod here (the edge and broker validate HTTP bodies with zod on
 * top of these guards and bounds).
 */

/** The one document a device should converge to. `version` grows by one per change (edge). */
export interface DesiredDocument {
  version: number;
  desired: Record<string, unknown>;
}

/** What a device reports when its handler failed to apply `version`. */
export interface DesiredError {
  version: number;
  code: string;
  message: string;
}

/** Bounds of a desired document, on every surface (edge PATCH, broker PUT, device). */
export const DESIRED_LIMITS = {
  /** Largest serialized `desired` object, in UTF-8 bytes (→ 413 `payload_too_large`). */
  maxBytes: 8 * 1024,
  /** Deepest nesting of the document and of a patch (→ 400 `invalid_request`). */
  maxDepth: MAX_JSON_DEPTH,
  /** Largest version (a safe integer: JSON numbers above it lose precision). */
  maxVersion: Number.MAX_SAFE_INTEGER,
} as const;

const encoder = new TextEncoder();

/** UTF-8 bytes of `value` serialized as JSON. */
export function jsonBytes(value: unknown): number {
  return encoder.encode(JSON.stringify(value)).byteLength;
}

export function isDesiredVersion(value: unknown): value is number {
  return (
    typeof value === "number" &&
    Number.isSafeInteger(value) &&
    value >= 1 &&
    value <= DESIRED_LIMITS.maxVersion
  );
}

/**
 * Why `desired` may not be stored (too deep → `invalid_request`, too large →
 * `payload_too_large`), or null when it fits the bounds.
 */
export function desiredBoundsRefusal(
  desired: Record<string, unknown>,
): { code: string; message: string } | null {
  const text = JSON.stringify(desired);
  if (jsonDepthExceeds(text, DESIRED_LIMITS.maxDepth)) {
    return {
      code: ErrorCode.InvalidRequest,
      message: `desired nested deeper than ${DESIRED_LIMITS.maxDepth} levels`,
    };
  }
  const bytes = encoder.encode(text).byteLength;
  if (bytes > DESIRED_LIMITS.maxBytes) {
    return {
      code: ErrorCode.PayloadTooLarge,
      message: `desired is ${bytes} bytes serialized; at most ${DESIRED_LIMITS.maxBytes}`,
    };
  }
  return null;
}

/**
 * Validates a desired document as the broker receives it (PUT) and a device receives it
 * on `devices/{id}/desired`: a version ≥ 1 and an object within the bounds.
 */
export function parseDesiredDocument(value: unknown): Parsed<DesiredDocument> {
  if (!isRecord(value)) return { ok: false, message: 'desired document must be {"version", "desired"}' };
  if (!isDesiredVersion(value.version)) return { ok: false, message: "version must be an integer ≥ 1" };
  if (!isRecord(value.desired)) return { ok: false, message: "desired must be a JSON object" };
  const refusal = desiredBoundsRefusal(value.desired);
  if (refusal) return { ok: false, message: refusal.message };
  return { ok: true, value: { version: value.version, desired: value.desired } };
}

/**
 * RFC 7386 JSON merge patch: an object patch merges key by key, recursively; `null`
 * deletes a key; anything else (array, scalar) replaces the target. Returns a new
 * value; neither argument is changed.
 *
 * @example
 *   applyMergePatch({ wifi: { ssid: "a", band: 5 } }, { wifi: { ssid: "b", band: null } })
 *   // { wifi: { ssid: "b" } }
 */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isRecord(patch)) return patch;
  const result: Record<string, unknown> = isRecord(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = applyMergePatch(result[key], value);
  }
  return result;
}

/** Structural equality of two JSON values (object key order does not matter). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((item, i) => jsonEqual(item, b[i]));
  }
  if (isRecord(a) && isRecord(b)) {
    const keys = Object.keys(a);
    if (keys.length !== Object.keys(b).length) return false;
    return keys.every((key) => Object.hasOwn(b, key) && jsonEqual(a[key], b[key]));
  }
  return false;
}

/**
 * The delta: each top-level key of `desired` whose value is not (deeply) equal to the
 * reported state's, with its desired value. `{}` when the device has converged.
 *
 * @example
 *   desiredDelta({ ssid: "b", band: 5 }, { ssid: "a", band: 5, uptime: 9 }) // { ssid: "b" }
 */
export function desiredDelta(
  desired: Record<string, unknown>,
  reported: Record<string, unknown> | null,
): Record<string, unknown> {
  const delta: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(desired)) {
    if (!reported || !jsonEqual(value, reported[key])) delta[key] = value;
  }
  return delta;
}

/** State keys through which a device acknowledges desired state; never part of the delta. */
export const DESIRED_ACK_KEYS = { version: "desiredVersion", error: "desiredError" } as const;

/** What a reported state says about desired state: the version applied, and the last failure. */
export function desiredAckOf(state: Record<string, unknown> | null): {
  desiredVersion: number | null;
  desiredError: DesiredError | null;
} {
  const version = state?.[DESIRED_ACK_KEYS.version];
  const error = state?.[DESIRED_ACK_KEYS.error];
  const desiredError =
    isRecord(error) &&
    isDesiredVersion(error.version) &&
    typeof error.code === "string" &&
    typeof error.message === "string"
      ? { version: error.version, code: error.code, message: error.message }
      : null;
  return { desiredVersion: isDesiredVersion(version) ? version : null, desiredError };
}
