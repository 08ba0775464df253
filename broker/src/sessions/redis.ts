import { EventEmitter } from "node:events";
import { Readable } from "node:stream";
import AsyncRedisPersistence from "aedes-persistence-redis/asyncPersistence.js";
import { Redis } from "ioredis";
import MQEmitterRedis from "mqemitter-redis";
import { parseCommand, parseJson, parseTopic } from "../../../protocol/src/index.js";
import type { BrokerContext } from "../context.js";
import type { SessionPersistence } from "./persistence.js";
import { allowedRecipients, allowedSubscriptions, foreignTopics } from "./subscription-guard.js";

/** KEYS: a session's outgoing list. ARGV: most entries kept. Drops the oldest beyond it; returns how many. */
const TRIM_OUTGOING = `
local n = redis.call('LLEN', KEYS[1])
local max = tonumber(ARGV[1])
if n <= max then return 0 end
redis.call('LTRIM', KEYS[1], n - max, -1)
return n - max`;

interface SessionBounds {
  /** Most messages queued for one offline session; the oldest are dropped beyond it. */
  maxQueuedPerSession: number;
  onQueueOverflow: (clientId: string, dropped: number) => void;
}

/**
 * aedes-persistence-redis with the broker's session rules:
 * - a session stores, restores and is queued only its device's own topics
 *   (sessions/subscription-guard.ts); a session stored before that rule, with
 *   foreign filters, is cleaned when its device connects;
 * - a session's outgoing list keeps at most `maxQueuedPerSession` entries;
 * - aedes-persistence-redis 11 returns retained messages as async generators, but
 *   Aedes 1.2 pipes them (`stream.pipe`) when a client subscribes; they are wrapped in Readables.
 */
class AedesRedisPersistence extends AsyncRedisPersistence {
  readonly #conn: Redis;
  readonly #bounds: SessionBounds;

  constructor(
    conn: Redis,
    packetTTL: (packet: { topic: string; payload: Buffer | string }) => number,
    bounds: SessionBounds,
  ) {
    super({ conn, packetTTL });
    this.#conn = conn;
    this.#bounds = bounds;
  }

  override createRetainedStreamCombi(patterns: string[]): Readable & AsyncIterable<unknown> {
    return Readable.from(super.createRetainedStreamCombi(patterns));
  }

  override createRetainedStream(pattern: string): Readable & AsyncIterable<unknown> {
    return Readable.from(super.createRetainedStream(pattern));
  }

  override async addSubscriptions(
    client: { id: string },
    subs: Array<{ topic: string; qos: number }>,
  ): Promise<void> {
    const allowed = allowedSubscriptions(client.id, subs);
    if (allowed.length > 0) await super.addSubscriptions(client, allowed);
  }

  override async subscriptionsByClient(client: {
    id: string;
  }): Promise<Array<{ topic: string; qos: number }>> {
    const subs = await super.subscriptionsByClient(client);
    const foreign = foreignTopics(client.id, subs);
    if (foreign.length > 0) await super.removeSubscriptions(client, foreign);
    return allowedSubscriptions(client.id, subs);
  }

  override async outgoingEnqueue(sub: { clientId: string }, packet: { topic: string }): Promise<void> {
    await this.outgoingEnqueueCombi([sub], packet);
  }

  override async outgoingEnqueueCombi(
    subs: Array<{ clientId: string }>,
    packet: { topic: string },
  ): Promise<void> {
    const allowed = allowedRecipients(subs, packet.topic);
    if (allowed.length === 0) return;
    await super.outgoingEnqueueCombi(allowed, packet);
    for (const { clientId } of allowed) {
      // The list key of aedes-persistence-redis (outgoingKey); the connection adds the prefix.
      const key = `outgoing:${encodeURIComponent(clientId)}`;
      const dropped = await this.#conn.eval(TRIM_OUTGOING, 1, key, String(this.#bounds.maxQueuedPerSession));
      if (typeof dropped === "number" && dropped > 0) this.#bounds.onQueueOverflow(clientId, dropped);
    }
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
  bounds: SessionBounds,
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
  const persistence = new AedesRedisPersistence(persistenceConn, packetTTL, bounds);
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
