import type { AedesPublishPacket, Client } from "aedes";
import {
  parseCommandResult,
  parseDevicePayload,
  parseState,
  parseTopic,
  type TetherEvent,
} from "../../../protocol/src/index.js";
import { takeQueuedResult } from "../commands/queued-outcome.js";
import { type BrokerContext, dropInvalid } from "../context.js";
import { type EncodedEvent, encodeEvent } from "../forwarder/encoded-event.js";
import { PerDeviceLogThrottle } from "./per-device-log-throttle.js";

/** A device's refused payloads are logged at most this often (each is still counted). */
const REFUSAL_LOG_INTERVAL_MS = 60_000;

/**
 * The `published` hook: turns what this node's devices publish into events for
 * the edge. Only publishes from this node's own clients arrive here with a
 * client, so each node forwards only what its own clients produced. A payload is
 * refused here, at ingest, and never reaches a batch, when it is not JSON, nests
 * deeper than MAX_JSON_DEPTH, has the wrong shape, or makes an event larger than
 * MAX_EVENT_BYTES (issue 12); each refusal is counted in
 * `tether_invalid_payloads_total{reason}` and logged once per device per minute.
 * The connection stays. Valid events are serialized once, here.
 */
export function createPublished(ctx: BrokerContext) {
  const refusalLog = new PerDeviceLogThrottle(REFUSAL_LOG_INTERVAL_MS, () => ctx.clock.now());
  const refuse = (reason: string, deviceId: string, details: Record<string, unknown>) =>
    dropInvalid(ctx, reason, { deviceId, ...details }, refusalLog.shouldLog(deviceId));
  /** The event serialized, or null when it is refused (too large to ever fit in a batch). */
  const encode = (event: TetherEvent, topic: string): EncodedEvent | null => {
    const encoded = encodeEvent(event);
    if (encoded.ok) return encoded.event;
    refuse(encoded.reason, event.deviceId, { topic, message: encoded.message });
    return null;
  };

  return function published(
    packet: AedesPublishPacket,
    client: Client | null,
    callback: (error?: Error | null) => void,
  ): void {
    callback(null);
    if (!client) return;
    const parsed = parseTopic(packet.topic);
    if (!parsed || parsed.deviceId !== client.id) return;
    const deviceId = parsed.deviceId;
    const now = ctx.clock.now();
    ctx.metrics.messagesIn.inc({ kind: parsed.kind === "results" ? "result" : parsed.kind });
    const payload = parseDevicePayload(packet.payload.toString());
    if (!payload.ok) {
      refuse(payload.reason, deviceId, { topic: packet.topic, message: payload.message });
      return;
    }
    const fail = (error: unknown) =>
      ctx.logger.error({ err: error, deviceId }, "could not record device message");

    switch (parsed.kind) {
      case "state": {
        const state = parseState(payload.value);
        if (!state.ok) {
          refuse("state_not_object", deviceId, { topic: packet.topic });
          return;
        }
        const event = encode({ type: "state", deviceId, ts: now, state: state.value }, packet.topic);
        if (!event) return;
        ctx.store.setState(deviceId, state.value, now).catch(fail);
        ctx.events.pushEncoded(event);
        return;
      }
      case "event": {
        const event = encode(
          { type: "event", deviceId, ts: now, name: parsed.name, data: payload.value },
          packet.topic,
        );
        if (!event) return;
        ctx.store.touch(deviceId, now).catch(fail);
        ctx.events.pushEncoded(event);
        return;
      }
      case "results": {
        const result = parseCommandResult(payload.value);
        if (!result.ok) {
          refuse("invalid_result", deviceId, { topic: packet.topic, message: result.message });
          return;
        }
        ctx.store.touch(deviceId, now).catch(fail);
        // A result of a queued command becomes a command_result event; a result of a
        // synchronous one is answered over HTTP by the node that waits for it (commands/router.ts).
        // A result that lands as a queued wait ends is handled by the waiting node (commands/result-handoff.ts).
        takeQueuedResult(ctx, deviceId, result.value).catch(fail);
        return;
      }
      default:
        return;
    }
  };
}
