import type { Redis } from "ioredis";
import { z } from "zod";
import {
  ADD_QUEUED,
  CLAIM_EXPIRED,
  QUEUED_KEY_SLACK_MS,
  TAKE_ALL_QUEUED,
  TAKE_QUEUED,
} from "./redis-queued-scripts.js";
import type {
  ClaimedDevice,
  ConnectInfo,
  ConnectionOwner,
  DeviceRecord,
  DeviceStore,
  DeviceStoreCounts,
  QueuedRef,
} from "./store.js";

/**
 * The device store in Redis, shared by every broker node, so presence, last
 * state, offline-since and queued commands are cluster-wide and survive a
 * restart. Keys (all under `prefix`, default `tether:`):
 *   device:{id}        HASH  online, connId, nodeId, since, lastSeen, persistent, state (JSON)
 *   offline            ZSET  id → offline-since ms (the session reaper's index)
 *   sessions           SET   ids holding a persistent session
 *   queued:{id}        ZSET  command id → expiresAt; the key expires a day after its last command
 *   queued-expiry      ZSET  "{id}:{commandId}" → expiresAt: every queued command, for the expiry sweep
 *   revoked            SET   revoked device ids (CONTRACT.md: "in Redis mode a Redis set")
 *   node:{nodeId}      STRING  the node's heartbeat, with a TTL (devices/node-liveness.ts)
 *   nodes              SET   node ids that may own devices (the liveness sweep's index)
 *   node-devices:{nodeId} SET ids whose record that node owns (online there)
 * Compare-and-set steps run as Lua scripts so two nodes never interleave them.
 * A record owned by a node whose heartbeat is gone reads as offline.
 */

/** KEYS: device, offline, sessions, node-devices of this node, nodes. ARGV: connId, nodeId, now, persistent, id, prefix. */
const CONNECT = `
local prev = redis.call('HGETALL', KEYS[1])
local prevNode = redis.call('HGET', KEYS[1], 'nodeId')
local prevAlive = 0
if prevNode and prevNode ~= '' then
  prevAlive = redis.call('EXISTS', ARGV[6] .. 'node:' .. prevNode)
  if prevNode ~= ARGV[2] then redis.call('SREM', ARGV[6] .. 'node-devices:' .. prevNode, ARGV[5]) end
end
redis.call('HSET', KEYS[1], 'online', '1', 'connId', ARGV[1], 'nodeId', ARGV[2], 'since', ARGV[3], 'lastSeen', ARGV[3], 'persistent', ARGV[4])
redis.call('ZREM', KEYS[2], ARGV[5])
if ARGV[4] == '1' then redis.call('SADD', KEYS[3], ARGV[5]) else redis.call('SREM', KEYS[3], ARGV[5]) end
redis.call('SADD', KEYS[4], ARGV[5])
redis.call('SADD', KEYS[5], ARGV[2])
return {prev, prevAlive}`;

/** KEYS: device, offline, node-devices of the owner. ARGV: connId, now, id, nodeId. */
const DISCONNECT = `
local owner = redis.call('HMGET', KEYS[1], 'online', 'connId', 'nodeId')
if owner[1] ~= '1' or owner[2] ~= ARGV[1] or owner[3] ~= ARGV[4] then return 0 end
redis.call('HSET', KEYS[1], 'online', '0', 'connId', '', 'since', ARGV[2], 'lastSeen', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('SREM', KEYS[3], ARGV[3])
return 1`;

/** KEYS: device. ARGV: prefix. The record and whether its owner node's heartbeat is alive. */
const GET = `
local record = redis.call('HGETALL', KEYS[1])
local node = redis.call('HGET', KEYS[1], 'nodeId')
local alive = 0
if node and node ~= '' then alive = redis.call('EXISTS', ARGV[1] .. 'node:' .. node) end
return {record, alive}`;

/** Revoked ids are checked against the shared set in batches of this many (SMISMEMBER). */
const REVOKED_BATCH = 1_000;

const stateSchema = z.record(z.string(), z.unknown());

function parseState(text: string | undefined): Record<string, unknown> | null {
  if (!text) return null;
  try {
    const parsed = stateSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** HGETALL as a flat array (Lua) or an object (ioredis) → a record. */
function toRecord(fields: Record<string, string>): DeviceRecord | null {
  if (fields.since === undefined) return null;
  return {
    online: fields.online === "1",
    connId: fields.connId ? Number(fields.connId) : null,
    nodeId: fields.nodeId || null,
    since: Number(fields.since),
    lastSeen: Number(fields.lastSeen ?? fields.since),
    persistent: fields.persistent === "1",
    state: parseState(fields.state),
  };
}

function pairs(flat: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!Array.isArray(flat)) return out;
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = String(flat[i + 1]);
  return out;
}

export class RedisDeviceStore implements DeviceStore {
  readonly #redis: Redis;
  readonly #prefix: string;
  /** REVOKED_DEVICES of this node (also added to the shared set at start: devices/revocation.ts). */
  readonly #configuredRevoked: ReadonlySet<string>;
  #lastCounts: DeviceStoreCounts = { devices: 0, persistentSessions: 0, queuedCommands: 0 };
  #closed = false;

  constructor(redis: Redis, prefix: string, revoked: Iterable<string> = []) {
    this.#redis = redis;
    this.#prefix = prefix;
    this.#configuredRevoked = new Set(revoked);
  }

  #device(id: string): string {
    return `${this.#prefix}device:${id}`;
  }
  get #offline(): string {
    return `${this.#prefix}offline`;
  }
  get #sessions(): string {
    return `${this.#prefix}sessions`;
  }
  #queued(id: string): string {
    return `${this.#prefix}queued:${id}`;
  }
  get #queuedExpiry(): string {
    return `${this.#prefix}queued-expiry`;
  }

  #nodeDevices(nodeId: string): string {
    return `${this.#prefix}node-devices:${nodeId}`;
  }

  async connect(deviceId: string, info: ConnectInfo): Promise<DeviceRecord | null> {
    const reply = await this.#redis.eval(
      CONNECT,
      5,
      this.#device(deviceId),
      this.#offline,
      this.#sessions,
      this.#nodeDevices(info.nodeId),
      `${this.#prefix}nodes`,
      String(info.connId),
      info.nodeId,
      String(info.now),
      info.persistent ? "1" : "0",
      deviceId,
      this.#prefix,
    );
    return withLiveness(reply);
  }

  async disconnect(deviceId: string, owner: ConnectionOwner, now: number): Promise<boolean> {
    const result = await this.#redis.eval(
      DISCONNECT,
      3,
      this.#device(deviceId),
      this.#offline,
      this.#nodeDevices(owner.nodeId),
      String(owner.connId),
      String(now),
      deviceId,
      owner.nodeId,
    );
    return result === 1;
  }

  async touch(deviceId: string, now: number): Promise<void> {
    await this.#redis.hset(this.#device(deviceId), "lastSeen", String(now));
  }

  async setState(deviceId: string, state: Record<string, unknown>, now: number): Promise<void> {
    await this.#redis.hset(this.#device(deviceId), "state", JSON.stringify(state), "lastSeen", String(now));
  }

  /** A record owned by a node whose heartbeat is gone reads as offline (it crashed). */
  async get(deviceId: string): Promise<DeviceRecord | null> {
    return withLiveness(await this.#redis.eval(GET, 1, this.#device(deviceId), this.#prefix));
  }

  async expired(cutoff: number, limit: number): Promise<string[]> {
    return this.#redis.zrangebyscore(this.#offline, "-inf", String(cutoff), "LIMIT", 0, limit);
  }

  async claimExpired(deviceId: string, cutoff: number): Promise<ClaimedDevice | null> {
    const reply = await this.#redis.eval(
      CLAIM_EXPIRED,
      5,
      this.#device(deviceId),
      this.#offline,
      this.#sessions,
      this.#queued(deviceId),
      this.#queuedExpiry,
      deviceId,
      String(cutoff),
    );
    if (!Array.isArray(reply)) return null;
    const [record, queued] = reply;
    return {
      record: toRecord(pairs(record)) ?? { ...emptyRecord(cutoff) },
      queuedCommands: Array.isArray(queued) ? queued.map(String) : [],
    };
  }

  async addQueued(
    deviceId: string,
    commandId: string,
    expiresAt: number,
    now: number,
    max: number,
  ): Promise<boolean> {
    const added = await this.#redis.eval(
      ADD_QUEUED,
      2,
      this.#queued(deviceId),
      this.#queuedExpiry,
      commandId,
      String(expiresAt),
      String(now),
      String(max),
      deviceId,
      String(QUEUED_KEY_SLACK_MS),
    );
    return added === 1;
  }

  async takeQueued(deviceId: string, commandId: string): Promise<boolean> {
    const taken = await this.#redis.eval(
      TAKE_QUEUED,
      2,
      this.#queued(deviceId),
      this.#queuedExpiry,
      commandId,
      deviceId,
    );
    return taken === 1;
  }

  async takeAllQueued(deviceId: string): Promise<string[]> {
    const ids = await this.#redis.eval(
      TAKE_ALL_QUEUED,
      2,
      this.#queued(deviceId),
      this.#queuedExpiry,
      deviceId,
    );
    return Array.isArray(ids) ? ids.map(String) : [];
  }

  async expiredQueued(cutoff: number, limit: number): Promise<QueuedRef[]> {
    const members = await this.#redis.zrangebyscore(
      this.#queuedExpiry,
      "-inf",
      String(cutoff),
      "LIMIT",
      0,
      limit,
    );
    const due: QueuedRef[] = [];
    for (const member of members) {
      // Device ids cannot hold ':' (DEVICE_ID_PATTERN), so the first one separates the two.
      const at = member.indexOf(":");
      if (at > 0) due.push({ deviceId: member.slice(0, at), commandId: member.slice(at + 1) });
    }
    return due;
  }

  get #revokedSet(): string {
    return `${this.#prefix}revoked`;
  }

  async isRevoked(deviceId: string): Promise<boolean> {
    if (this.#configuredRevoked.has(deviceId)) return true;
    return (await this.#redis.sismember(this.#revokedSet, deviceId)) === 1;
  }

  async revoke(deviceId: string): Promise<void> {
    await this.#redis.sadd(this.#revokedSet, deviceId);
  }

  async unrevoke(deviceId: string): Promise<void> {
    await this.#redis.srem(this.#revokedSet, deviceId);
  }

  isConfiguredRevoked(deviceId: string): boolean {
    return this.#configuredRevoked.has(deviceId);
  }

  async revokedAmong(deviceIds: readonly string[]): Promise<string[]> {
    const revoked = deviceIds.filter((id) => this.#configuredRevoked.has(id));
    for (let i = 0; i < deviceIds.length; i += REVOKED_BATCH) {
      const batch = deviceIds.slice(i, i + REVOKED_BATCH);
      const flags = await this.#redis.smismember(this.#revokedSet, ...batch);
      batch.forEach((id, index) => {
        if (flags[index] === 1 && !this.#configuredRevoked.has(id)) revoked.push(id);
      });
    }
    return revoked;
  }

  async counts(): Promise<DeviceStoreCounts> {
    // After close, the last figures seen (leak tests read stats() after close()).
    if (this.#closed) return this.#lastCounts;
    const [sessions, offline, queued] = await Promise.all([
      this.#redis.scard(this.#sessions),
      this.#redis.zcard(this.#offline),
      this.#redis.zcard(this.#queuedExpiry),
    ]);
    // Cluster-wide figures: devices known offline, queued commands of every device.
    this.#lastCounts = { devices: offline, persistentSessions: sessions, queuedCommands: queued };
    return this.#lastCounts;
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}

/** `{record, ownerAlive}` from CONNECT / GET → the record, offline if its owner node is dead. */
function withLiveness(reply: unknown): DeviceRecord | null {
  if (!Array.isArray(reply)) return null;
  const record = toRecord(pairs(reply[0]));
  if (record?.online && reply[1] !== 1) record.online = false;
  return record;
}

function emptyRecord(now: number): DeviceRecord {
  return {
    online: false,
    connId: null,
    nodeId: null,
    since: now,
    lastSeen: now,
    persistent: false,
    state: null,
  };
}
