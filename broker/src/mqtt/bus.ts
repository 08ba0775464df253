import type { Aedes } from "aedes";

/** Aedes's callback API as promises, for the broker's own publishes and subscriptions on its bus. */

export function publishAsync(aedes: Aedes, topic: string, payload: string): Promise<void> {
  return new Promise((resolve) => {
    aedes.publish(
      { cmd: "publish", topic, payload: Buffer.from(payload), qos: 0, retain: false, dup: false },
      () => resolve(),
    );
  });
}

export function subscribeAsync(
  aedes: Aedes,
  topic: string,
  handler: (packet: { topic: string; payload: Buffer | string }, done: () => void) => void,
): Promise<void> {
  return new Promise((resolve) => aedes.subscribe(topic, handler, () => resolve()));
}

export function closeAedes(aedes: Aedes): Promise<void> {
  return new Promise((resolve) => aedes.close(() => resolve()));
}
