import { EventEmitter } from "node:events";
import { Readable } from "node:stream";
import AsyncRedisPersistence from "aedes-persistence-redis/asyncPersistence.js";
import { Redis } from "ioredis";
import MQEmitterRedis from "mqemitter-redis";
import { parseCommand, parseJson, parseTopic } from "../../../protocol/src/index.js";
import type { BrokerContext } from "../context.js";
import type { SessionPersistence } from "./persistence.js";

/**
 * aedes-persistence-redis 11 returns retained messages as async generators, but
 * Aedes 1.2 pipes them (`stream.pipe`) when a client subscribes; wrap them in Readables.
 */
class AedesRedisPersistence extends AsyncRedisPersistence {
  override createRetainedStreamCombi(patterns: string[]): Readable & AsyncIterable<unknown> {
    return Readable.from(super.createRetainedStreamCombi(patterns));
  }

  override createRetainedStream(pattern: string): Readable & AsyncIterable<unknown> {
    return Readable.from(super.createRetainedStream(pattern));
  }
}

export interface RedisParts {
  /** The broker's own connection (device store, revocations). */
  redis: Redis;
  /** Aedes's persistence; its keys live under `{prefix}aedes:`. */
  persistence: SessionPersistence;
  /** Aedes's message bus across nodes. */
  mq: ReturnType<typeof MQEmitterRedis>;
  /** Null while every connection is ready; else since when one is not, and which (for /healthz). */
  unreachable(): { since: number; reason: string } | null;
  close(): Promise<void>;
}

/**
 * Tracks whether each Redis connection is ready, and since when one is not. ioredis
 * reconnects on its own (and queues commands meanwhile), so this only watches.
 */
function watchReadiness(connections: Record<string, Redis>, now: () => number) {
  let downSince: number | null = null;
  const notReady = () => Object.entries(connections).filter(([, conn]) => conn.status !== "ready");
  const update = () => {
    if (notReady().length === 0) downSince = null;
    else downSince ??= now();
  };
  for (const conn of Object.values(connections)) {
    for (const event of ["ready", "close", "end", "reconnecting"]) conn.on(event, update);
  }
  return (): { since: number; reason: string } | null => {
    const down = notReady();
    if (down.length === 0) return null;
    downSince ??= now();
    const which = down.map(([name, conn]) => `${name} ${conn.status}`).join(", ");
    return { since: downSince, reason: `redis not ready (${which})` };
  };
}

/**
 * Scale-out on Redis: aedes-persistence-redis holds sessions (subscriptions and
 * queued messages) and mqemitter-redis carries every publish between nodes.
 * An undelivered command's stored packet expires with the command (packetTTL),
 * any other stored packet with the session expiry, so nothing stays in Redis forever.
 */
export function createRedisParts(
  ctx: Pick<BrokerContext, "clock" | "logger">,
  url: string,
  prefix: string,
  sessionExpirySeconds: number,
): RedisParts {
  const redis = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 3 });
  const persistenceConn = new Redis(url, { keyPrefix: `${prefix}aedes:`, maxRetriesPerRequest: 3 });
  const packetTTL = (packet: { topic: string; payload: Buffer | string }): number => {
    const parsed = parseTopic(packet.topic);
    if (parsed?.kind === "commands") {
      const json = parseJson(packet.payload.toString());
      const command = json.ok ? parseCommand(json.value) : json;
      if (command.ok) return Math.max(1, Math.ceil((command.value.expiresAt - ctx.clock.now()) / 1000) + 60);
    }
    return sessionExpirySeconds;
  };
  const persistence = new AedesRedisPersistence({ conn: persistenceConn, packetTTL });
  const mq = MQEmitterRedis({ connectionString: url });
  for (const conn of [redis, persistenceConn]) {
    conn.on("error", (error: Error) => ctx.logger.error({ err: error }, "redis error"));
  }
  // mqemitter-redis's own two connections (untyped fields): the bus between nodes.
  const busConnections: Record<string, Redis> = {};
  for (const name of ["pubConn", "subConn"]) {
    const conn: unknown = Reflect.get(mq, name);
    if (conn instanceof Redis) busConnections[`bus ${name}`] = conn;
  }
  const unreachable = watchReadiness({ store: redis, sessions: persistenceConn, ...busConnections }, () =>
    Date.now(),
  );
  // mqemitter-redis reports connection errors on its (untyped) `state` emitter.
  const state: unknown = Reflect.get(mq, "state");
  if (state instanceof EventEmitter) {
    state.on("error", (error: Error) => ctx.logger.error({ err: error }, "redis mq error"));
  }
  return {
    redis,
    persistence,
    mq,
    unreachable,
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
