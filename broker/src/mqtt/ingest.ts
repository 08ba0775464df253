import type { AedesPublishPacket, Client } from "aedes";
import { parseCommandResult, parseJson, parseState, parseTopic } from "../../../protocol/src/index.js";
import { commandResultEvent } from "../commands/result-event.js";
import { type BrokerContext, dropInvalid } from "../context.js";

/**
 * The `published` hook: turns what this node's devices publish into events for
 * the edge. Only publishes from this node's own clients arrive here with a
 * client, so each node forwards only what its own clients produced. Invalid JSON
 * is dropped with a logged, counted reason; the connection stays.
 */
export function createPublished(ctx: BrokerContext) {
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
    const json = parseJson(packet.payload.toString());
    if (!json.ok) {
      dropInvalid(ctx, "invalid_json", { deviceId, topic: packet.topic });
      return;
    }
    const fail = (error: unknown) =>
      ctx.logger.error({ err: error, deviceId }, "could not record device message");

    switch (parsed.kind) {
      case "state": {
        const state = parseState(json.value);
        if (!state.ok) {
          dropInvalid(ctx, "state_not_object", { deviceId });
          return;
        }
        ctx.store.setState(deviceId, state.value, now).catch(fail);
        ctx.events.push({ type: "state", deviceId, ts: now, state: state.value });
        return;
      }
      case "event":
        ctx.store.touch(deviceId, now).catch(fail);
        ctx.events.push({ type: "event", deviceId, ts: now, name: parsed.name, data: json.value });
        return;
      case "results": {
        const result = parseCommandResult(json.value);
        if (!result.ok) {
          dropInvalid(ctx, "invalid_result", { deviceId, message: result.message });
          return;
        }
        ctx.store.touch(deviceId, now).catch(fail);
        // A result of a queued command becomes a command_result event; a result of a
        // synchronous one is answered over HTTP by the node that waits for it (commands/router.ts).
        // A result that lands as a queued wait ends is handled by the waiting node (commands/result-handoff.ts).
        ctx.store.takeQueued(deviceId, result.value.id).then((wasQueued) => {
          if (wasQueued) ctx.events.push(commandResultEvent(deviceId, now, result.value));
        }, fail);
        return;
      }
      default:
        return;
    }
  };
}
