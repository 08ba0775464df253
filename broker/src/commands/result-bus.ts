/**
 * The broker's two internal bus subscriptions: command results (heard by whichever
 * node waits for them) and the offline notices that fail a device's pending commands.
 */
import type { Aedes } from "aedes";
import { parseCommandResult, parseDevicePayload, parseTopic } from "../../../protocol/src/index.js";
import { subscribeAsync } from "../mqtt/bus.js";
import type { PendingCommands } from "./pending.js";
import type { CommandRouter } from "./router.js";

/** Internal topic on which a node tells every node that a device went offline (fails its pending commands). */
export const OFFLINE_TOPIC = "$SYS/tether/offline";

/** Subscribes this node to the results and offline notices on Aedes's bus. */
export async function subscribeResultBus(
  broker: Aedes,
  pending: PendingCommands,
  router: CommandRouter,
): Promise<void> {
  // Results travel on Aedes's bus, so the node waiting for one hears it wherever the device is connected.
  await subscribeAsync(broker, "devices/+/results", (packet, done) => {
    done();
    const parsed = parseTopic(packet.topic);
    if (parsed?.kind !== "results") return;
    // Too deep for JSON.stringify: refused (and counted) by ingest too, so the command times out.
    const json = parseDevicePayload(packet.payload.toString());
    const result = json.ok ? parseCommandResult(json.value) : json;
    if (!result.ok) return;
    if (!pending.resolve(parsed.deviceId, result.value))
      router.unclaimedResult(parsed.deviceId, result.value);
  });
  await subscribeAsync(broker, OFFLINE_TOPIC, (packet, done) => {
    done();
    pending.deviceOffline(packet.payload.toString());
  });
}
