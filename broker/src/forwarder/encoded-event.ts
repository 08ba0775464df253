import { MAX_EVENT_BYTES, type TetherEvent } from "../../../protocol/src/index.js";

/**
 * Where an event waits in the forwarder (issue 12): a device's latest `presence` and
 * latest `state` each have one slot per device (a newer one replaces the older);
 * `command_result`s wait in their own lane and are never dropped; device `event`s are
 * discrete and may be dropped under pressure.
 */
export type EventLane = "presence" | "state" | "result" | "discrete";

/** An event serialized once, when it is produced, with its size in bytes. */
export interface EncodedEvent {
  readonly lane: EventLane;
  readonly deviceId: string;
  /** The event as JSON, exactly as it goes into a batch body. */
  readonly json: string;
  /** UTF-8 bytes of `json`. */
  readonly bytes: number;
}

export type EncodeRefusal = "event_too_large" | "unserializable";

export type EncodeOutcome =
  | { ok: true; event: EncodedEvent }
  | { ok: false; reason: EncodeRefusal; message: string };

const LANES: Record<TetherEvent["type"], EventLane> = {
  presence: "presence",
  state: "state",
  command_result: "result",
  event: "discrete",
};

/**
 * Serializes an event once, at ingest, so the forwarder holds bytes it can count (a
 * parsed 64 KiB `[{},{},…]` is ~1.4 MB of heap; its JSON is 64 KiB) and never has to
 * stringify a batch that might fail. Refuses an event that could not fit in a batch
 * alone (MAX_EVENT_BYTES, under the edge's body limit) or that does not serialize.
 *
 * @example
 *   const encoded = encodeEvent({ type: "state", deviceId: "r1", ts: Date.now(), state: { up: true } });
 *   if (encoded.ok) forwarder.pushEncoded(encoded.event);
 */
export function encodeEvent(event: TetherEvent, maxBytes = MAX_EVENT_BYTES): EncodeOutcome {
  let json: string;
  try {
    json = JSON.stringify(event);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, reason: "unserializable", message: `event does not serialize: ${message}` };
  }
  const bytes = Buffer.byteLength(json);
  if (bytes > maxBytes) {
    return {
      ok: false,
      reason: "event_too_large",
      message: `event is ${bytes} bytes, above the ${maxBytes} an event batch can carry`,
    };
  }
  return { ok: true, event: { lane: LANES[event.type], deviceId: event.deviceId, json, bytes } };
}
