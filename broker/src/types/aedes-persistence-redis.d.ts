/** Types for the async persistence of aedes-persistence-redis 11 (it ships none). */
declare module "aedes-persistence-redis/asyncPersistence.js" {
  import type { Redis, RedisOptions } from "ioredis";

  interface RedisPersistenceOptions extends RedisOptions {
    conn?: Redis;
    maxSessionDelivery?: number;
    packetTTL?: (packet: { topic: string; payload: Buffer | string }) => number;
  }

  class AsyncRedisPersistence {
    constructor(options?: RedisPersistenceOptions);
    setup(broker: unknown): Promise<void>;
    subscriptionsByTopic(topic: string): Promise<Array<{ clientId: string; topic: string; qos: number }>>;
    cleanSubscriptions(client: { id: string }): Promise<void>;
    addSubscriptions(client: { id: string }, subs: Array<{ topic: string; qos: number }>): Promise<void>;
    removeSubscriptions(client: { id: string }, topics: string[]): Promise<void>;
    subscriptionsByClient(client: { id: string }): Promise<Array<{ topic: string; qos: number }>>;
    outgoingEnqueue(sub: { clientId: string }, packet: { topic: string }): Promise<void>;
    outgoingEnqueueCombi(subs: Array<{ clientId: string }>, packet: { topic: string }): Promise<void>;
    destroy(): Promise<void>;
    createRetainedStreamCombi(patterns: string[]): AsyncIterable<unknown>;
    createRetainedStream(pattern: string): AsyncIterable<unknown>;
  }
  export = AsyncRedisPersistence;
}
