import type { Redis } from "ioredis";
import type { BrokerContext } from "../context.js";

/** A device connection this node owns (see mqtt/connections.ts). */
export interface OwnedConnection {
  deviceId: string;
  connId: number;
}

export interface NodeLivenessOptions {
  redis: Redis;
  prefix: string;
  /** How often the heartbeat is refreshed and dead nodes are swept. */
  heartbeatMs: number;
  /** The heartbeat's TTL: a node silent this long is dead. */
  ttlMs: number;
  /** A device of a dead node was marked offline by this node (fail its pending commands). */
  onSwept(deviceId: string): void;
  /** This node's live device connections, re-asserted if its own heartbeat lapsed. */
  ownConnections(): Iterable<OwnedConnection>;
}

/** Devices marked offline per script call, so one dead node with many devices never blocks Redis long. */
const SWEEP_BATCH = 500;

/** KEYS: heartbeat, nodes. ARGV: ttl ms, nodeId. Returns 1 if the heartbeat was still alive. */
const BEAT = `
local alive = redis.call('EXISTS', KEYS[1])
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
return alive`;

/** KEYS: heartbeat, node-devices, nodes. ARGV: nodeId. A graceful node leaves the index when it owns nothing. */
const LEAVE = `
redis.call('DEL', KEYS[1])
if redis.call('SCARD', KEYS[2]) == 0 then redis.call('SREM', KEYS[3], ARGV[1]) end
return 1`;

/**
 * KEYS: heartbeat of the node, its node-devices, offline, nodes. ARGV: nodeId, now, batch, prefix.
 * Pops up to `batch` devices of a node whose heartbeat is gone and marks offline those it
 * still owns (connId is kept, so a node that was only stalled can re-assert them). SPOP
 * hands each device to exactly one caller, so two sweeping nodes never both report it.
 * Returns {popped, offline ids...}.
 */
const SWEEP_NODE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return {0} end
local ids = redis.call('SPOP', KEYS[2], tonumber(ARGV[3]))
local out = {#ids}
for _, id in ipairs(ids) do
  local key = ARGV[4] .. 'device:' .. id
  local owner = redis.call('HMGET', key, 'online', 'nodeId')
  if owner[1] == '1' and owner[2] == ARGV[1] then
    redis.call('HSET', key, 'online', '0', 'since', ARGV[2])
    redis.call('ZADD', KEYS[3], ARGV[2], id)
    table.insert(out, id)
  end
end
if redis.call('SCARD', KEYS[2]) == 0 then redis.call('SREM', KEYS[4], ARGV[1]) end
return out`;

/**
 * KEYS: device, offline, node-devices of this node, nodes. ARGV: connId, nodeId, id.
 * After this node's heartbeat lapsed and another node swept it: marks a device still
 * connected here online again, if the record is still this connection's (a takeover
 * or a release would have changed connId or nodeId).
 */
const REASSERT = `
local owner = redis.call('HMGET', KEYS[1], 'online', 'connId', 'nodeId')
if owner[1] ~= '0' or owner[2] ~= ARGV[1] or owner[3] ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'online', '1')
redis.call('ZREM', KEYS[2], ARGV[3])
redis.call('SADD', KEYS[3], ARGV[3])
redis.call('SADD', KEYS[4], ARGV[2])
return 1`;

/**
 * Node liveness in Redis mode. Each node refreshes `{prefix}node:{nodeId}` (TTL
 * `ttlMs`) every `heartbeatMs`; the device store reads a record whose node has no
 * heartbeat as offline. Each beat also sweeps: for every other node in
 * `{prefix}nodes` whose heartbeat is gone, the devices it still owns are marked
 * offline — atomically, so exactly one node emits `presence offline reason=error`
 * for each. The timer is real time (not the injected clock) because Redis TTLs are.
 */
export class NodeLiveness {
  readonly #ctx: BrokerContext;
  readonly #o: NodeLivenessOptions;
  #timer: NodeJS.Timeout | null = null;
  /** The last tick; ticks never overlap. */
  #last: Promise<unknown> = Promise.resolve();

  constructor(ctx: BrokerContext, options: NodeLivenessOptions) {
    this.#ctx = ctx;
    this.#o = options;
  }

  #key(kind: "node" | "node-devices", nodeId: string): string {
    return `${this.#o.prefix}${kind}:${nodeId}`;
  }

  /** Writes the first heartbeat (before the node accepts connections) and starts the timer. */
  async start(): Promise<void> {
    await this.#beat(true);
    this.#timer = setInterval(() => {
      this.#last = this.#last.then(() => this.#tick());
    }, this.#o.heartbeatMs);
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    try {
      await this.#beat(false);
      await this.sweep();
    } catch (error) {
      this.#ctx.logger.error({ err: error }, "node heartbeat or sweep failed");
    }
  }

  async #beat(first: boolean): Promise<void> {
    const { redis, prefix, ttlMs } = this.#o;
    const nodeId = this.#ctx.nodeId;
    const alive = await redis.eval(
      BEAT,
      2,
      this.#key("node", nodeId),
      `${prefix}nodes`,
      String(ttlMs),
      nodeId,
    );
    if (alive === 1 || first) return;
    // Our heartbeat lapsed (a stall or a Redis outage longer than the TTL): another node
    // may have reported our devices offline although they are still connected here.
    this.#ctx.logger.error({ ttlMs }, "node heartbeat had lapsed; re-asserting this node's devices");
    await this.#reassert();
  }

  async #reassert(): Promise<void> {
    const { redis, prefix } = this.#o;
    const { nodeId, clock, events } = this.#ctx;
    for (const { deviceId, connId } of this.#o.ownConnections()) {
      const back = await redis.eval(
        REASSERT,
        4,
        `${prefix}device:${deviceId}`,
        `${prefix}offline`,
        this.#key("node-devices", nodeId),
        `${prefix}nodes`,
        String(connId),
        nodeId,
        deviceId,
      );
      if (back === 1) {
        events.push({ type: "presence", deviceId, ts: clock.now(), online: true, reason: "connect" });
      }
    }
  }

  /** Marks offline the devices of every node whose heartbeat is gone; resolves with how many. */
  async sweep(): Promise<number> {
    const { redis, prefix } = this.#o;
    const { nodeId: self, clock, events, logger } = this.#ctx;
    let swept = 0;
    for (const nodeId of await redis.smembers(`${prefix}nodes`)) {
      if (nodeId === self) continue;
      for (;;) {
        const reply = await redis.eval(
          SWEEP_NODE,
          4,
          this.#key("node", nodeId),
          this.#key("node-devices", nodeId),
          `${prefix}offline`,
          `${prefix}nodes`,
          nodeId,
          String(clock.now()),
          String(SWEEP_BATCH),
          prefix,
        );
        const [popped, ...ids] = Array.isArray(reply) ? reply : [0];
        for (const id of ids) {
          const deviceId = String(id);
          swept++;
          events.push({ type: "presence", deviceId, ts: clock.now(), online: false, reason: "error" });
          logger.warn({ deviceId, deadNode: nodeId }, "offline: its node stopped its heartbeat");
          this.#o.onSwept(deviceId);
        }
        if (Number(popped) < SWEEP_BATCH) break;
      }
    }
    return swept;
  }

  /** Stops the heartbeat. */
  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** After close() released every device: deletes the heartbeat and leaves the index. */
  async leave(): Promise<void> {
    this.stop();
    await this.#last;
    const nodeId = this.#ctx.nodeId;
    const { redis, prefix } = this.#o;
    await redis.eval(
      LEAVE,
      3,
      this.#key("node", nodeId),
      this.#key("node-devices", nodeId),
      `${prefix}nodes`,
      nodeId,
    );
  }
}
