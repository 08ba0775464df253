import type { Logger } from "pino";
import type { TrackedClock } from "../clock.js";
import type { BrokerSettings } from "../context.js";
import { RedisDeviceStore } from "../devices/redis-store.js";
import { type DeviceStore, MemoryDeviceStore } from "../devices/store.js";
import { BoundedMemoryPersistence } from "./memory-persistence.js";
import type { SessionPersistence } from "./persistence.js";
import { createRedisParts, type RedisParts } from "./redis.js";

export interface SessionParts {
  persistence: SessionPersistence;
  store: DeviceStore;
  /** Set in Redis mode. */
  redisParts: RedisParts | undefined;
}

/**
 * The session persistence and device store of one node: in memory, or in Redis
 * when `redisUrl` is set. `onQueueOverflow` hears of messages dropped from a full
 * offline session queue (either persistence).
 */
export function createSessionParts(
  settings: BrokerSettings,
  deps: { clock: TrackedClock; logger: Logger },
  onQueueOverflow: (clientId: string, dropped: number) => void,
): SessionParts {
  if (settings.redisUrl) {
    const redisParts = createRedisParts(
      deps,
      settings.redisUrl,
      settings.redisKeyPrefix,
      settings.sessionExpirySeconds,
      { maxQueuedPerSession: settings.maxQueuedPerSession, onQueueOverflow },
    );
    return {
      redisParts,
      persistence: redisParts.persistence,
      store: new RedisDeviceStore(redisParts.redis, settings.redisKeyPrefix, settings.revokedDevices),
    };
  }
  return {
    redisParts: undefined,
    persistence: new BoundedMemoryPersistence({
      maxQueuedPerSession: settings.maxQueuedPerSession,
      onQueueOverflow: (clientId) => onQueueOverflow(clientId, 1),
    }),
    store: new MemoryDeviceStore(settings.revokedDevices),
  };
}
