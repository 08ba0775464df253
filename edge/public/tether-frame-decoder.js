// @ts-check
/**
 * Turns what a socket delivered into a checked server frame, or says why not.
 * Nothing from the network is trusted: binary data, oversized text, bad JSON
 * and frames of the wrong shape or device each become a TetherClientError.
 *
 * @typedef {import("./tether-frames.js").ServerFrame} ServerFrame
 * @typedef {{ kind: "frame", frame: ServerFrame } | { kind: "pong" } | { kind: "refused", error: TetherClientError }} Decoded
 */
import { TetherClientError } from "./tether-client-error.js";
import { isRecord, parseServerFrame } from "./tether-frames.js";

/**
 * @example decodeServerText(event.data, "router-1", 1_048_576) // → { kind: "frame", frame }
 * @param {unknown} data
 * @param {string} deviceId
 * @param {number} maxFrameChars
 * @returns {Decoded}
 */
export function decodeServerText(data, deviceId, maxFrameChars) {
  /** @param {string} code @param {string} message @param {unknown} [cause] @returns {Decoded} */
  const refused = (code, message, cause) => ({
    kind: "refused",
    error: new TetherClientError(code, message, { cause }),
  });
  if (typeof data !== "string") return refused("invalid_frame", "binary frames are not part of the protocol");
  if (data === "pong") return { kind: "pong" };
  if (data.length > maxFrameChars) return refused("frame_too_large", `frame of ${data.length} chars refused`);
  let value;
  try {
    value = JSON.parse(data);
  } catch (cause) {
    return refused("invalid_frame", "frame is not JSON", cause);
  }
  const parsed = parseServerFrame(value, deviceId);
  if (!parsed.ok) {
    const type = JSON.stringify(isRecord(value) ? value.type : undefined);
    return refused("invalid_frame", `${parsed.message} (type ${type})`);
  }
  return { kind: "frame", frame: parsed.value };
}
