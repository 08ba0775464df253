/**
 * The checks a `Device` makes on what the application hands it (command names,
 * event names, payload sizes); each throws the documented TetherError.
 */
import { COMMAND_LIMITS, ErrorCode, EVENT_NAME_PATTERN, TetherError } from "../../protocol/src/index.js";

/** Throws invalid_request unless `name` is a valid command name. */
export function assertCommandName(name: string): void {
  if (!COMMAND_LIMITS.namePattern.test(name)) {
    throw new TetherError(ErrorCode.InvalidRequest, "command name must match [A-Za-z0-9_.-]{1,64}");
  }
}

/** Throws payload_too_large when the reported state's JSON exceeds `maxPayloadBytes`. */
export function assertStateFits(payload: string, maxPayloadBytes: number): void {
  if (Buffer.byteLength(payload) > maxPayloadBytes) {
    throw new TetherError(ErrorCode.PayloadTooLarge, `state exceeds ${maxPayloadBytes} bytes`);
  }
}

/** The JSON of an event's data; throws invalid_request (name) or payload_too_large. */
export function encodeEvent(eventName: string, data: unknown, maxPayloadBytes: number): string {
  if (!EVENT_NAME_PATTERN.test(eventName)) {
    throw new TetherError(ErrorCode.InvalidRequest, "event name must match [A-Za-z0-9_.-]{1,64}");
  }
  const payload = JSON.stringify(data ?? null);
  if (Buffer.byteLength(payload) > maxPayloadBytes) {
    throw new TetherError(ErrorCode.PayloadTooLarge, `event exceeds ${maxPayloadBytes} bytes`);
  }
  return payload;
}
