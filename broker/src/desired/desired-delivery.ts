import type { Aedes, Client, Subscription } from "aedes";
import { type DesiredDocument, topics } from "../../../protocol/src/index.js";
import type { BrokerContext } from "../context.js";
import type { DesiredPutOutcome, DesiredStore } from "./desired-store.js";

/**
 * Delivers each device's latest desired document on `devices/{id}/desired` (QoS 1,
 * issue 15): when the edge hands a version (PUT) and the device is online, and whenever
 * the device subscribes to that topic — which the SDK does on every connect, so a
 * device that was offline for a week gets the latest document, and only the latest, on
 * its return. Retained messages are not used: Aedes's retained store is unbounded by
 * topic; this store is bounded (desired-store.ts). The publish goes through Aedes's bus,
 * so in Redis mode the node holding the device delivers it.
 */
export class DesiredDelivery {
  constructor(
    private readonly ctx: BrokerContext,
    private readonly aedes: Aedes,
    private readonly store: DesiredStore,
    private readonly onPut: (outcome: DesiredPutOutcome) => void = () => {},
  ) {}

  /** Hooks the subscribe event: a device subscribing to its desired topic is sent the latest document. */
  start(): void {
    this.aedes.on("subscribe", this.#onSubscribe);
  }

  stop(): void {
    this.aedes.off("subscribe", this.#onSubscribe);
  }

  /**
   * Stores a version handed by the edge and sends it to the device if it is online.
   * An equal version is sent again too (the edge re-hands when the device reports an
   * older one: its earlier delivery may have been lost); an older one is ignored.
   */
  async put(
    deviceId: string,
    doc: DesiredDocument,
  ): Promise<{ outcome: DesiredPutOutcome; current: DesiredDocument }> {
    const result = await this.store.put(deviceId, doc);
    this.onPut(result.outcome);
    if (result.outcome !== "stale") {
      const record = await this.ctx.store.get(deviceId);
      if (record?.online) await this.#publish(deviceId, result.current);
    }
    return result;
  }

  readonly #onSubscribe = (subscriptions: Subscription[], client: Client): void => {
    const deviceId = client.id;
    const topic = topics.desired(deviceId);
    if (!subscriptions.some((sub) => sub.topic === topic && Number(sub.qos) !== 128)) return;
    this.store
      .get(deviceId)
      .then((doc) => (doc ? this.#publish(deviceId, doc) : undefined))
      .catch((error: unknown) =>
        this.ctx.logger.warn({ err: error, deviceId }, "could not send the desired document on subscribe"),
      );
  };

  #publish(deviceId: string, doc: DesiredDocument): Promise<void> {
    return new Promise((resolve) => {
      this.aedes.publish(
        {
          cmd: "publish",
          topic: topics.desired(deviceId),
          payload: Buffer.from(JSON.stringify(doc)),
          qos: 1,
          retain: false,
          dup: false,
        },
        () => resolve(),
      );
    });
  }
}
