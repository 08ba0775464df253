import type { Redis } from "ioredis";

/** The part of an Aedes persistence the broker itself calls (besides Aedes). */
export interface SessionPersistence {
  setup(broker: unknown): Promise<void>;
  subscriptionsByTopic(topic: string): Promise<Array<{ clientId: string; topic: string; qos: number }>>;
  cleanSubscriptions(client: { id: string }): Promise<void>;
  destroy(): Promise<void>;
}

/** A persistence that can drop all of one session's state at once (the in-memory one). */
export interface ForgettingPersistence extends SessionPersistence {
  forgetSession(clientId: string): Promise<void>;
}

export function canForget(persistence: SessionPersistence): persistence is ForgettingPersistence {
  return "forgetSession" in persistence && typeof persistence.forgetSession === "function";
}

export type { Redis };
