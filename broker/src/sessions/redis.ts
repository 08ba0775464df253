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

/** How long a client's subscription call waits for the one before it (AedesRedisPersistence#inTurn). */
const TURN_WAIT_MS = 5_000;

/** Resolves when `promise` (which never rejects) settles, or after `ms`; its timer goes either way. */
function settledWithin(promise: Promise<void>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref();
    void promise.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

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
  /** Per client, the last of its subscription calls queued (removed once it settles). Bound: clients with a call in flight. */
  readonly #turns = new Map<string, Promise<void>>();
  /** The store of one SUBSCRIBE packet in flight, by client and filters. Bound: as #turns. */
  readonly #adding = new Map<string, Promise<void>>();

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

  /**
   * Aedes 1.2 stores a SUBSCRIBE once per granted filter, each time with all of the packet's
   * filters, in parallel; aedes-persistence-redis then waits for its own `$SYS/sub/add`
   * broadcast to come back, with one waiter per client and first topic, so the second call's
   * waiter replaced the first's and the first never resolved: a SUBSCRIBE of both of a device's
   * topics (the device SDK's) never got its SUBACK on Redis (test/broker/redis.test.ts).
   * So the calls of one packet are done once, and a client's calls run one after another.
   */
  override async addSubscriptions(
    client: { id: string },
    subs: Array<{ topic: string; qos: number }>,
  ): Promise<void> {
    const allowed = allowedSubscriptions(client.id, subs);
    if (allowed.length === 0) return;
    const key = `${client.id}\n${allowed.map((sub) => `${sub.topic} ${sub.qos}`).join("\n")}`;
    const running = this.#adding.get(key);
    if (running) return running;
    const call = this.#inTurn(client.id, () => super.addSubscriptions(client, allowed));
    this.#adding.set(key, call);
    const forget = () => {
      if (this.#adding.get(key) === call) this.#adding.delete(key);
    };
    // A store whose broadcast never came back is joined by no SUBSCRIBE after a turn's wait.
    const timer = setTimeout(forget, TURN_WAIT_MS);
    timer.unref();
    try {
      await call;
    } finally {
      clearTimeout(timer);
      forget();
    }
  }

  /** In turn with the client's other calls (its broadcast waiter is keyed by client and topic too). */
  override async removeSubscriptions(client: { id: string }, topics: string[]): Promise<void> {
    await this.#inTurn(client.id, () => super.removeSubscriptions(client, topics));
  }

  override async subscriptionsByClient(client: {
    id: string;
  }): Promise<Array<{ topic: string; qos: number }>> {
    const subs = await super.subscriptionsByClient(client);
    const foreign = foreignTopics(client.id, subs);
    if (foreign.length > 0) await this.removeSubscriptions(client, foreign);
    return allowedSubscriptions(client.id, subs);
  }

  /**
   * Runs `work` after the client's calls queued before it, whatever their outcome — or after
   * TURN_WAIT_MS of waiting for them, so that one call whose broadcast never came back (a Redis
   * subscriber dropped) does not hold the client's next SUBSCRIBE for good.
   */
  #inTurn(clientId: string, work: () => Promise<unknown>): Promise<void> {
    const previous = this.#turns.get(clientId);
    const before = previous ? settledWithin(previous, TURN_WAIT_MS) : Promise.resolve();
    const run = before.then(work).then(() => undefined);
    const settled = run.catch(() => undefined);
    this.#turns.set(clientId, settled);
    void settled.then(() => {
      if (this.#turns.get(clientId) === settled) this.#turns.delete(clientId);
    });
    return run;
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

/** How long a bus connection gets to answer QUIT and close before it is cut. */
const BUS_QUIT_MS = 2_000;

/**
 * Replaces mqemitter-redis's close(), which Aedes calls at shutdown: it sends QUIT on both
 * connections without handling the promise, and waits for each to emit `end`. A QUIT that
 * fails (the connection closes before the reply, as after test/broker/health.test.ts's Redis
 * outage about one full run in eight; or it had already ended) was an unhandled rejection,
 * ioredis's "Connection is closed.", with mqemitter-redis's close() as its only caller; and
 * on an already ended connection `end` never came, so the close never finished. This one
 * ends each connection itself, handling every outcome, then lets MQEmitter finish.
 */
function closeBusHandled(mq: ReturnType<typeof MQEmitterRedis>, connections: Redis[]): void {
  // MQEmitter's own close (mqemitter-redis keeps it as `_close`): marks the bus closed, calls back.
  const finish: unknown = Reflect.get(mq, "_close");
  let closing: Promise<void> | null = null;
  mq.close = (callback: () => void) => {
    if (closing) {
      void closing.then(callback);
      return;
    }
    // mqemitter-redis reports connection errors only while not closing.
    Reflect.set(mq, "closing", true);
    closing = Promise.all(connections.map(endConnection)).then(
      () =>
        new Promise<void>((resolve) => {
          if (typeof finish === "function") finish.call(mq, () => resolve());
          else resolve();
        }),
    );
    void closing.then(callback);
  };
}

/**
 * QUIT when ready, resolved once the connection has ended (cut after BUS_QUIT_MS); any other
 * state is cut at once (while reconnecting, ioredis emits no `end` for that). Never rejects.
 */
async function endConnection(conn: Redis): Promise<void> {
  if (conn.status !== "ready") {
    conn.disconnect();
    return;
  }
  const ended = new Promise<void>((resolve) => conn.once("end", () => resolve()));
  const quit = conn.quit().then(
    () => undefined,
    () => conn.disconnect(),
  );
  let timer: NodeJS.Timeout | undefined;
  const cut = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      conn.disconnect();
      resolve();
    }, BUS_QUIT_MS);
  });
  await Promise.race([Promise.all([quit, ended]), cut]);
  clearTimeout(timer);
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
  // The bus between nodes, on two connections of ours (mqemitter-redis would open them itself).
  const pubConn = new Redis(url);
  const subConn = new Redis(url);
  const mq = MQEmitterRedis({ pubConn, subConn });
  closeBusHandled(mq, [subConn, pubConn]);
  for (const conn of [redis, persistenceConn]) {
    conn.on("error", (error: Error) => ctx.logger.error({ err: error }, "redis error"));
  }
  const unreachable = watchReadiness(
    { store: redis, sessions: persistenceConn, "bus pubConn": pubConn, "bus subConn": subConn },
    () => Date.now(),
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
